"""What one run contributes to a claim: its final pass@1, final training metric, curve area or gradient
statistics, each as an observation with its standard error (`gift.report.stats.Obs`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from gift.report.inputs import Run
from gift.report.stats import TAIL_FRACTION, Obs, normalised_auc

DEFAULT_MAX_GRAD_NORM = 1.0  # TRL's (transformers') default of max_grad_norm


def _group(runs: Sequence[Run], key: Callable[[Run], str]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(key(r), []).append(r)
    return out


def _tail(values: np.ndarray, fraction: float = TAIL_FRACTION) -> np.ndarray:
    k = max(1, math.ceil(fraction * len(values)))
    return values[-k:]


def _prefix(key: str) -> str:
    """'eval' for eval_pass@1, 'selection' for selection_pass@1: where its item count is logged."""
    return key.split("_pass@1")[0]


def _pass_se(run: Run, key: str, steps: np.ndarray, values: np.ndarray) -> float | None:
    """Mean logged standard error of pass@1 at `steps`; else the binomial bound over the logged item count."""
    s_steps, s_vals = run.series(f"{key}_stderr")
    logged = dict(zip(s_steps.tolist(), s_vals.tolist(), strict=True))
    ses = [logged[s] for s in steps.tolist() if s in logged and logged[s] > 0]
    if len(ses) == len(steps) and ses:
        return float(np.mean(ses))
    n_steps, n_vals = run.series(f"{_prefix(key)}_n")
    n = float(np.median(n_vals)) if n_vals.size else None
    if not n:
        return None
    p = float(np.mean(values))
    return math.sqrt(max(p * (100.0 - p), 0.0) / n)


def pass_obs(run: Run, key: str = "eval_pass@1", fraction: float = TAIL_FRACTION) -> Obs | None:
    """A run's final held-out pass@1 (tail mean, percent) with its evaluation-sampling standard error."""
    steps, vals = run.series(key)
    if not vals.size:
        return None
    k = max(1, math.ceil(fraction * len(vals)))
    return Obs(float(vals[-k:].mean()), _pass_se(run, key, steps[-k:], vals[-k:]))


def final_eval_obs(run: Run) -> Obs | None:
    """A run's pass@1 from the evaluation of its final model on the full test set (percent, with its
    sampling standard error); None when the run has none."""
    if not run.final_eval:
        return None
    return Obs(float(run.final_eval["value"]), run.final_eval.get("stderr"))


def tail_obs(run: Run, key: str, fraction: float = TAIL_FRACTION) -> Obs | None:
    """A run's final value of a training metric; its standard error from the spread of the tail points."""
    _, vals = run.series(key)
    if not vals.size:
        return None
    t = _tail(vals, fraction)
    se = float(np.std(t, ddof=1) / math.sqrt(len(t))) if len(t) > 1 else None
    return Obs(float(t.mean()), se)


def auc_obs(run: Run, lo: float, hi: float, key: str = "eval_pass@1") -> Obs | None:
    """Mean height of a run's pass@1 curve over [lo, hi] (normalised area), with the curve's mean standard error."""
    steps, vals = run.series(key)
    auc = normalised_auc(steps, vals, lo, hi)
    if auc is None:
        return None
    inside = (steps >= lo) & (steps <= hi)
    se = _pass_se(run, key, steps[inside], vals[inside]) if inside.any() else None
    return Obs(auc, se)


def max_grad_norm(run: Run) -> float:
    """The clipping threshold a run trained with (its method_args, else the trainer's default)."""
    v = (run.entry.get("method_args") or {}).get("max_grad_norm")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else DEFAULT_MAX_GRAD_NORM


def clip_fraction_obs(run: Run) -> Obs | None:
    """Share of logged optimizer steps (percent) whose gradient norm exceeded max_grad_norm, so that clipping
    acted; its standard error treats the steps as independent draws."""
    _, g = run.series("grad_norm")
    if not g.size:
        return None
    f = float(np.mean(g > max_grad_norm(run)))
    return Obs(100.0 * f, 100.0 * math.sqrt(f * (1.0 - f) / len(g)) if len(g) > 1 else None)


def grad_spread_obs(run: Run) -> Obs | None:
    """Spread of a run's gradient norm: the interquartile range of log10(grad_norm) over its steps.

    Quartiles, so that one spike (GIFT's first step, counted by the clip fraction) does not set the spread;
    the standard error is the normal-theory 1.166 × IQR / sqrt(steps).
    """
    _, g = run.series("grad_norm")
    g = g[g > 0]
    if len(g) < 4:
        return None
    q1, q3 = np.quantile(np.log10(g), [0.25, 0.75])
    iqr = float(q3 - q1)
    return Obs(iqr, 1.166 * iqr / math.sqrt(len(g)))


def _obs(runs: Sequence[Run], f: Callable[[Run], Obs | None]) -> list[Obs]:
    return [o for o in (f(r) for r in runs) if o is not None]
