"""What one run contributes to a claim: its final pass@1, final training metric, curve area or gradient
statistics, each as an observation with its standard error (`gift.report.stats.Obs`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np

from gift.report.inputs import Run
from gift.report.stats import TAIL_FRACTION, Obs, normalised_auc

DEFAULT_MAX_GRAD_NORM = 1.0  # TRL's (transformers') default of max_grad_norm


def group_runs(runs: Sequence[Run], key: Callable[[Run], str]) -> dict[str, list[Run]]:
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
    return Obs(float(run.final_eval["value"]), run.final_eval.get("stderr"), run.final_eval.get("items"))


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


def implicit_reference(run: Run) -> str | None:
    """What a GIFT run measures rhat against ('rollout' or 'reference'); None for other methods."""
    if run.method != "gift":
        return None
    ref = run.variant.get("implicit_reference") or (run.entry.get("method_args") or {}).get("implicit_reference")
    if ref is None:
        from gift.methods import get_method

        ref = get_method("gift").defaults.get("implicit_reference")
    return str(ref)


def updates_per_rollout_batch(run: Run) -> int:
    """Optimizer updates per rollout batch: the run's manifest (batch.updates_per_rollout_batch), else its
    method_args (steps_per_generation / gradient_accumulation_steps), else 1."""
    if run.path is not None and (run.path / "manifest.json").exists():
        try:
            batch = json.loads((run.path / "manifest.json").read_text(encoding="utf-8")).get("batch") or {}
        except (OSError, ValueError):
            batch = {}
        u = batch.get("updates_per_rollout_batch")
        if isinstance(u, int | float) and u >= 1:
            return int(round(u))
    args = run.entry.get("method_args") or {}
    spg, acc = args.get("steps_per_generation"), args.get("gradient_accumulation_steps") or 1
    if isinstance(spg, int) and isinstance(acc, int) and spg >= acc >= 1:
        return spg // acc
    return 1


def constructed_clip_steps(run: Run, steps: np.ndarray) -> np.ndarray:
    """True at the updates where GIFT's implicit reward is 0 by construction, so that its gradient is ~1/eps and
    clipping acts by design: against the rollout policy, the first update of each rollout batch (steps 1, 1+u,
    1+2u, ...); against pi_ref, the first update; none for other methods."""
    ref = implicit_reference(run)
    if ref is None:
        return np.zeros(steps.shape, dtype=bool)
    if ref == "rollout":
        u = updates_per_rollout_batch(run)
        return (np.round(steps).astype(int) - 1) % u == 0
    return steps == steps.min() if steps.size else np.zeros(0, dtype=bool)


def _grad_norms(run: Run) -> np.ndarray:
    steps, g = run.series("grad_norm")
    return g[~constructed_clip_steps(run, steps)]


def clip_fraction_obs(run: Run) -> Obs | None:
    """Share of a run's optimizer updates (percent) whose gradient norm exceeded max_grad_norm, so that clipping
    acted, leaving out the updates clipped by construction (constructed_clip_steps); its standard error treats
    the updates as independent draws."""
    g = _grad_norms(run)
    if not g.size:
        return None
    f = float(np.mean(g > max_grad_norm(run)))
    return Obs(100.0 * f, 100.0 * math.sqrt(f * (1.0 - f) / len(g)) if len(g) > 1 else None)


def grad_spread_obs(run: Run) -> Obs | None:
    """Spread of a run's gradient norm: the interquartile range of log10(grad_norm) over its updates (those clipped
    by construction left out).

    Quartiles, so that one spike does not set the spread; the standard error is the normal-theory
    1.166 × IQR / sqrt(updates).
    """
    g = _grad_norms(run)
    g = g[g > 0]
    if len(g) < 4:
        return None
    q1, q3 = np.quantile(np.log10(g), [0.25, 0.75])
    iqr = float(q3 - q1)
    return Obs(iqr, 1.166 * iqr / math.sqrt(len(g)))


def drawdown_obs(run: Run, key: str = "eval_pass@1") -> Obs | None:
    """How far a run's eval curve ends below its peak: max over its points minus its final value (points)."""
    _, vals = run.series(key)
    if vals.size < 2:
        return None
    final = float(_tail(vals).mean())
    return Obs(max(float(vals.max()) - final, 0.0))


def observations_of(runs: Sequence[Run], f: Callable[[Run], Obs | None]) -> list[Obs]:
    return [o for o in (f(r) for r in runs) if o is not None]
