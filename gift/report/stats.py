"""Summaries over seeds and along training curves, shared by the figures, the tables and the claims."""

from __future__ import annotations

import dataclasses
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
    terms: tuple[float, ...] = ()  # each group's weight² × s² / n (SEEDS)
    counts: tuple[int, ...] = ()  # each group's seeds (SEEDS)


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
        iv = _t_interval(estimate, math.sqrt(sum(terms)), welch_df(terms, counts), SEEDS, level)
        return dataclasses.replace(iv, terms=tuple(terms), counts=tuple(counts))
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


POWER_SIMS = 4000


def welch_power(terms: Sequence[float], counts: Sequence[int], effect: float, alpha: float = ALPHA,
                sims: int = POWER_SIMS, seed: int = 0) -> float:
    """Simulated chance that the Welch test of a contrast is decisive on the paper's side at `alpha` when the true
    contrast is `effect` and each group's true s²/n (times its weight²) is `terms`: each simulated setting
    draws the group means and the groups' sample variances (scaled χ² with n − 1 degrees of freedom), as the
    seeds of a rerun would, and goes through the same interval (estimated df included)."""
    from scipy.special import stdtr

    rng = np.random.default_rng(seed)
    v = np.asarray(terms, dtype=float)
    n = np.asarray(counts, dtype=float)
    est = effect + (np.sqrt(v) * rng.standard_normal((sims, v.size))).sum(axis=1)
    vhat = v * rng.chisquare(n - 1, size=(sims, v.size)) / (n - 1)
    var = vhat.sum(axis=1)
    df = var ** 2 / (vhat ** 2 / (n - 1)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stdtr(df, -np.abs(est) / np.sqrt(var))
    return float(np.mean((p < alpha) & (est > 0)))


def detectable_difference(iv: Interval, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest true difference this setting would call decisive with probability `power` at `alpha`, if each
    group's seed spread is what was measured (welch_power, by bisection); None for an evaluation-only interval,
    which never decides. `alpha` is the family's level for this setting (5% / settings is Holm's first step)."""
    if iv.kind != SEEDS or not iv.terms or iv.se == 0:
        return None if iv.kind != SEEDS else 0.0
    lo, hi = 0.0, iv.se
    while welch_power(iv.terms, iv.counts, hi, alpha) < power:
        lo, hi = hi, 2 * hi
        if hi > 1e6 * iv.se:
            return None
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if welch_power(iv.terms, iv.counts, mid, alpha) < power else (lo, mid)
        if hi - lo < 1e-3 * iv.se:
            break
    return hi


def seeds_needed(iv: Interval, alpha: float = ALPHA, power: float = POWER, limit: int = 200) -> int | None:
    """Seeds per group at which the observed difference would be decisive with probability `power`, if every
    group's seed spread stayed as measured (welch_power with each group at n seeds); None beyond `limit` or
    without a seed interval."""
    if iv.kind != SEEDS or not iv.terms or iv.estimate == 0:
        return None
    per_seed = [t * c for t, c in zip(iv.terms, iv.counts, strict=True)]  # weight² × s², one seed's share

    def ok(n: int) -> bool:
        return welch_power([x / n for x in per_seed], [n] * len(per_seed), abs(iv.estimate), alpha) >= power
    lo = max(2, min(iv.counts))
    if ok(lo):
        return lo
    hi = lo
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None if not ok(limit) else _first(ok, lo, limit)
    return _first(ok, lo, hi)


def _first(ok, lo: int, hi: int) -> int:
    """The smallest n in (lo, hi] with ok(n), given ok(hi) and not ok(lo)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def group_means(groups: dict[str, Sequence[Obs]]) -> dict[str, float]:
    """The observed mean of each non-empty group (the point estimates a statistic is built from)."""
    return {k: float(np.mean([o.value for o in v])) for k, v in groups.items() if v}
