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


# ------------------------------------------------------------------------------------------- intervals

CONFIDENCE = 0.95
N_BOOTSTRAP = 4000

INTERVAL_METHOD = (
    f"Each interval is a {CONFIDENCE:.0%} percentile interval of a two-level (hierarchical) bootstrap with "
    f"{N_BOOTSTRAP} resamples. Level 1, seeds: every compared group (a method, or a method at one N) draws "
    "its runs with replacement, their deviations from the group mean scaled by sqrt(n/(n-1)) so that the "
    "resampled mean has the unbiased seed variance s²/n. Level 2, evaluation sampling: each drawn run's "
    "value is perturbed by a normal draw with that run's own standard error, the normal form of resampling "
    "its eval items. The eval logs of a run store pass@1 and its standard error over the eval items (each "
    "item's pass rate is the mean over its k samples); a tail of several eval points takes the mean of their "
    "standard errors (they share the items, so they are treated as perfectly correlated, the wider bound); "
    "where no standard error was logged, the binomial bound sqrt(p(100-p)/n) over the n eval items is used. "
    "A training-time metric (train pass@1, response length, reward, gradient norm) gets as its standard "
    "error the spread of its tail points over sqrt(their count). With one seed only the second level "
    "remains; with one seed and no standard error there is no noise estimate and the verdict is "
    "inconclusive. The observed seed spread already holds some evaluation noise, so adding it again makes "
    "the interval wider, not narrower: a verdict that excludes 0 is not an optimistic one. With three "
    "seeds a bootstrap knows the seed spread only roughly; the intervals are a measure of the noise, not "
    "exact 95% coverage.")


@dataclass(frozen=True)
class Obs:
    """One run's value of a statistic and its within-run standard error (None: unknown)."""

    value: float
    se: float | None = None


def hierarchical_bootstrap(groups: dict[str, Sequence[Obs]], statistic, n_boot: int = N_BOOTSTRAP,
                           seed: int = 0) -> np.ndarray | None:
    """Bootstrap draws of `statistic` over resampled group means (see INTERVAL_METHOD).

    `statistic` maps {group: array of n_boot resampled means} to an array of n_boot values. Returns
    None when a group is empty, or holds one run without a standard error (no noise estimate).
    """
    rng = np.random.default_rng(seed)
    means: dict[str, np.ndarray] = {}
    for name in sorted(groups):
        obs = [o for o in groups[name] if o.value is not None and math.isfinite(o.value)]
        n = len(obs)
        if n == 0 or (n == 1 and obs[0].se is None):
            return None
        v = np.array([o.value for o in obs], dtype=float)
        se = np.array([0.0 if o.se is None or not math.isfinite(o.se) else o.se for o in obs], dtype=float)
        idx = rng.integers(0, n, size=(n_boot, n))
        centre = v.mean()
        scale = math.sqrt(n / (n - 1)) if n > 1 else 0.0
        drawn = centre + scale * (v[idx] - centre) + se[idx] * rng.standard_normal((n_boot, n))
        means[name] = drawn.mean(axis=1)
    return np.asarray(statistic(means), dtype=float)


def percentile_interval(draws: np.ndarray | None, level: float = CONFIDENCE) -> tuple[float, float] | None:
    """The central `level` percentile interval of bootstrap draws (None for None)."""
    if draws is None:
        return None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [a, 1.0 - a])
    return float(lo), float(hi)


def group_means(groups: dict[str, Sequence[Obs]]) -> dict[str, np.ndarray]:
    """The observed mean of each group, as one-element arrays (the point estimate of a statistic)."""
    return {k: np.array([float(np.mean([o.value for o in v]))]) for k, v in groups.items() if v}
