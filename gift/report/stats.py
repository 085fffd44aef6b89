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
ALPHA = 1.0 - CONFIDENCE
POWER = 0.8

INTERVAL_METHOD = (
    f"Each interval is a {CONFIDENCE:.0%} Welch t-interval of a linear contrast of seed means (e.g. GIFT − GRPO): "
    "the runs of each compared group (a method, or a method at one N) are its seeds, each run one value; the "
    "contrast's variance is the sum of each group's s²/n (sample variance over its seeds, ddof 1) times its "
    "weight squared, and the degrees of freedom are Welch–Satterthwaite's, from the seeds alone. A run's value "
    "already holds its evaluation noise (the sampled answers and, for a curve's tail, its eval points), so the "
    "seed spread measures both; both methods are scored on the same eval items, so the items' difficulty is "
    "common to every run and drops out of the difference. The interval's coverage is measured, not assumed: "
    "`gift report calibrate` runs null simulations through this code (the measured rates are printed below). "
    "A compared group with fewer than 2 seeds has no seed spread: the setting gets no verdict ('1 seed: no "
    "verdict') and shows an evaluation-only interval, labelled so, which holds the evaluation sampling alone: "
    "paired by item when both runs logged per-item results (eval_items.jsonl), else from each run's logged "
    "standard error; it says nothing of the seed-to-seed spread and decides nothing.")

SEEDS = "seeds"
EVAL_ONLY = "evaluation only"


@dataclass(frozen=True)
class Obs:
    """One run's value of a statistic, its within-run standard error (None: unknown) and, when the run logged
    them, its per-item scores ({item id: score}, in the value's unit) for pairing runs item by item."""

    value: float
    se: float | None = None
    items: dict | None = None


@dataclass(frozen=True)
class Interval:
    """A contrast's estimate, its interval, standard error, degrees of freedom and two-sided p-value.

    `kind` is SEEDS (a Welch interval over seeds: it can decide) or EVAL_ONLY (evaluation sampling alone:
    shown, never decisive).
    """

    estimate: float
    lo: float
    hi: float
    se: float
    df: float
    p: float
    kind: str


def _finite(obs: Sequence[Obs]) -> list[Obs]:
    return [o for o in obs if o.value is not None and math.isfinite(o.value)]


def welch_df(variances: Sequence[float], counts: Sequence[int]) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of independent terms with variances (already divided by
    their counts) and sample counts: (Σ v)² / Σ v²/(n−1)."""
    num = sum(variances) ** 2
    den = sum(v * v / (n - 1) for v, n in zip(variances, counts, strict=True))
    return math.inf if den == 0 else num / den


def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t with `df` degrees of freedom (the normal's for infinite df)."""
    from scipy.special import ndtri, stdtrit

    return float(ndtri(q) if math.isinf(df) else stdtrit(df, q))


def t_two_sided_p(x: float, df: float) -> float:
    """P(|T| >= |x|) for Student's t with `df` degrees of freedom (the normal's for infinite df)."""
    from scipy.special import ndtr, stdtr

    return float(2.0 * (ndtr(-abs(x)) if math.isinf(df) else stdtr(df, -abs(x))))


def _t_interval(estimate: float, se: float, df: float, kind: str, level: float) -> Interval:
    if se == 0:
        p = 1.0 if estimate == 0 else 0.0
        return Interval(estimate, estimate, estimate, 0.0, df, p, kind)
    q = t_quantile(0.5 + level / 2, df)
    return Interval(estimate, estimate - q * se, estimate + q * se, se, df, t_two_sided_p(estimate / se, df), kind)


def contrast_interval(groups: dict[str, Sequence[Obs]], weights: dict[str, float],
                      level: float = CONFIDENCE) -> Interval | None:
    """Σ weights[g] × mean(group g) with its interval (see INTERVAL_METHOD); None with no noise estimate.

    Every group with at least 2 seeds: a Welch interval (kind SEEDS). Otherwise the evaluation-only interval
    (kind EVAL_ONLY): per item, the same contrast of the runs' item scores, when every run logged the same
    items; else from the runs' standard errors; None when a run has neither.
    """
    obs = {g: _finite(groups[g]) for g in weights}
    if any(not o for o in obs.values()):
        return None
    estimate = float(sum(w * np.mean([o.value for o in obs[g]]) for g, w in weights.items()))
    if all(len(o) >= 2 for o in obs.values()):
        terms = [w * w * float(np.var([o.value for o in obs[g]], ddof=1)) / len(obs[g]) for g, w in weights.items()]
        counts = [len(obs[g]) for g in weights]
        return _t_interval(estimate, math.sqrt(sum(terms)), welch_df(terms, counts), SEEDS, level)
    paired = paired_item_se(obs, weights)
    if paired is not None:
        return _t_interval(estimate, paired[0], paired[1] - 1, EVAL_ONLY, level)
    if any(o.se is None or not math.isfinite(o.se) for os_ in obs.values() for o in os_):
        return None
    var = sum(w * w * float(np.mean([o.se ** 2 for o in obs[g]])) / len(obs[g]) for g, w in weights.items())
    return _t_interval(estimate, math.sqrt(var), math.inf, EVAL_ONLY, level)


def paired_item_se(obs: dict[str, Sequence[Obs]], weights: dict[str, float]) -> tuple[float, int] | None:
    """Standard error of a contrast over the eval items every run scored (and that count), taking each item's
    contrast so that the items' difficulty cancels; None unless every run logged items and they overlap."""
    if any(o.items is None for os_ in obs.values() for o in os_):
        return None
    common = set.intersection(*(set(o.items) for os_ in obs.values() for o in os_))
    if len(common) < 2:
        return None
    ids = sorted(common, key=str)
    d = np.zeros(len(ids))
    for g, w in weights.items():
        d += w * np.mean([[o.items[i] for i in ids] for o in obs[g]], axis=0)
    return float(np.std(d, ddof=1) / math.sqrt(len(ids))), len(ids)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (each capped at 1): the family-wise error rate of 'adjusted p < α'
    stays at α over the whole family, whatever the dependence between the tests."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def detectable_difference(iv: Interval, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest true difference this interval would call decisive with probability `power`:
    (t_{1−α/2} + t_{power}) × SE at its degrees of freedom (the usual normal-shift approximation of the
    noncentral t); None for an evaluation-only interval, which never decides."""
    if iv.kind != SEEDS or not math.isfinite(iv.se):
        return None
    return (t_quantile(1 - alpha / 2, iv.df) + t_quantile(power, iv.df)) * iv.se


def seeds_needed(iv: Interval, counts: Sequence[int], alpha: float = ALPHA, power: float = POWER,
                 limit: int = 1000) -> int | None:
    """Seeds per group at which the observed difference would be detected with probability `power`, if the
    per-seed spread stayed as measured (the same count added to every group); None beyond `limit` or when the
    interval has no seed spread."""
    if iv.kind != SEEDS or iv.estimate == 0:
        return None
    n0 = min(counts)
    for n in range(max(2, n0), limit + 1):
        se = iv.se * math.sqrt(n0 / n)  # each group's s²/n shrinks with its count
        df = iv.df * (n - 1) / max(n0 - 1, 1)
        if (t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * se <= abs(iv.estimate):
            return n
    return None


def group_means(groups: dict[str, Sequence[Obs]]) -> dict[str, float]:
    """The observed mean of each non-empty group (the point estimates a statistic is built from)."""
    return {k: float(np.mean([o.value for o in v])) for k, v in groups.items() if v}
