"""Summaries over seeds and along training curves, shared by the figures, the tables and the claims."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The share of a curve's logged points that counts as its end (and its start): at least one point.
TAIL_FRACTION = 0.1


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None, int]:
    """Mean, sample standard deviation (ddof=1; None below two values) and count; (None, None, 0) when empty."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    if n == 0:
        return None, None, 0
    mean = sum(vals) / n
    if n < 2:
        return mean, None, n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    return mean, sd, n


@dataclass
class Band:
    """A curve's seed mean and spread at each step."""

    steps: np.ndarray
    mean: np.ndarray
    sd: np.ndarray  # NaN where fewer than two seeds logged that step
    n: np.ndarray

    @property
    def empty(self) -> bool:
        """True when no seed logged the metric."""
        return self.steps.size == 0


def seed_band(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> Band:
    """Mean and sample sd over seeds at every step any seed logged (each step uses the seeds that logged it)."""
    by_step: dict[float, list[float]] = {}
    for steps, values in curves:
        for s, v in zip(steps, values, strict=True):
            by_step.setdefault(float(s), []).append(float(v))
    steps = np.array(sorted(by_step), dtype=float)
    mean = np.full(steps.shape, np.nan)
    sd = np.full(steps.shape, np.nan)
    n = np.zeros(steps.shape, dtype=int)
    for i, s in enumerate(steps):
        m, d, k = mean_sd(by_step[s])
        mean[i], n[i] = m, k
        if d is not None:
            sd[i] = d
    return Band(steps=steps, mean=mean, sd=sd, n=n)


def _tail_count(length: int, fraction: float) -> int:
    return max(1, math.ceil(fraction * length))


def final_value(values: Sequence[float], fraction: float = TAIL_FRACTION) -> float | None:
    """Mean of the last `fraction` of a curve's points (at least the last one); None for an empty curve."""
    vals = list(values)
    if not vals:
        return None
    k = _tail_count(len(vals), fraction)
    return float(np.mean(vals[-k:]))


def initial_value(values: Sequence[float], fraction: float = TAIL_FRACTION) -> float | None:
    """Mean of the first `fraction` of a curve's points (at least the first one); None for an empty curve."""
    vals = list(values)
    if not vals:
        return None
    k = _tail_count(len(vals), fraction)
    return float(np.mean(vals[:k]))


def steps_to_threshold(steps: Sequence[float], values: Sequence[float], threshold: float) -> float:
    """The first logged step whose value reaches `threshold`; infinity if none does."""
    for s, v in zip(steps, values, strict=True):
        if v >= threshold:
            return float(s)
    return math.inf


def normalised_auc(steps: Sequence[float], values: Sequence[float], start: float, end: float) -> float | None:
    """Area under a piecewise-linear curve over [start, end] divided by (end - start): its mean height.

    The curve is held constant before its first and after its last point; None for an empty curve or
    an empty interval.
    """
    s = np.asarray(steps, dtype=float)
    v = np.asarray(values, dtype=float)
    if s.size == 0 or not end > start:
        return None
    grid = np.union1d(s[(s > start) & (s < end)], [start, end])
    y = np.interp(grid, s, v)
    area = float(np.sum((grid[1:] - grid[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return float(area / (end - start))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation with average ranks for ties; None when either side is constant."""
    if len(x) != len(y) or len(x) < 2:
        return None

    def ranks(a: Sequence[float]) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        order = np.argsort(a, kind="mergesort")
        r = np.empty(len(a))
        i = 0
        while i < len(a):
            j = i
            while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2.0 + 1
            i = j + 1
        return r

    rx, ry = ranks(x), ranks(y)
    if np.std(rx) == 0 or np.std(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])
