"""The paper's claims beside what the runs measured, each with a verdict computed by a stated rule.

Every comparison is between seed means (point estimates); no significance test is made, so a verdict
on few seeds or tiny models says what the numbers show, not that the difference is reliable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gift.report.inputs import Run
from gift.report.labels import aggregation_label, rollouts, setting_label
from gift.report.stats import (
    TAIL_FRACTION,
    final_value,
    initial_value,
    mean_sd,
    normalised_auc,
    seed_band,
    spearman,
    steps_to_threshold,
)
from gift.report.tables import PAPER_SECTION, ReproducedTable

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
NOT_MEASURED = "not measured"

CONVERGENCE_FRACTION = 0.9
ROLLOUT_PIVOT = 16
SMALL_GAIN_RATIO = 0.5
RLVR_FIGURES = ("fig3", "fig4", "fig5")

AGGREGATION_RULE = (f"A claim tested in several settings (backbone · dataset) is {SUPPORTED} when the rule "
                    f"holds in more than half of the settings where it could be measured, {NOT_SUPPORTED} "
                    f"otherwise, and {NOT_MEASURED} when no setting had the runs it needs.")

TAIL_TEXT = (f"A run's final value of a metric is the mean of its last {TAIL_FRACTION:.0%} of logged points "
             f"(at least the last one); its initial value, the mean of its first {TAIL_FRACTION:.0%}.")


@dataclass
class ClaimResult:
    """One claim of the paper, the rule that tests it, what was measured, and the verdict."""

    cid: str
    claim: str
    paper: str
    rule: str
    verdict: str = NOT_MEASURED
    measured: str = "no runs with the metrics this rule needs"
    details: list[dict] = field(default_factory=list)


def verdict_of(outcomes: Sequence[bool]) -> str:
    """The aggregation rule over settings (see AGGREGATION_RULE)."""
    if not outcomes:
        return NOT_MEASURED
    return SUPPORTED if sum(bool(o) for o in outcomes) * 2 > len(outcomes) else NOT_SUPPORTED


def _fmt(x: float | None, d: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "never"
    return f"{x:.{d}f}"


def _reach(step: float) -> str:
    return "never" if math.isinf(step) else f"at step {step:g}"


def _group(runs: Sequence[Run], key: Callable[[Run], str]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(key(r), []).append(r)
    return out


def _final(run: Run, key: str) -> float | None:
    return final_value(run.series(key)[1])


def _seed_mean(runs: Sequence[Run], f: Callable[[Run], float | None]) -> tuple[float | None, int]:
    m, _, n = mean_sd([v for v in (f(r) for r in runs) if v is not None])
    return m, n


def _select(runs: Sequence[Run], figures: Sequence[str], fallback: Callable[[Run], bool]) -> list[Run]:
    """Runs of the named figures; if no run names any of them, the runs `fallback` accepts."""
    tagged = [r for r in runs if r.figures & set(figures)]
    if any(r.figures for r in runs):
        return tagged
    return [r for r in runs if fallback(r)]


def _rlvr_pairs(runs: Sequence[Run]) -> dict[str, dict[str, list[Run]]]:
    chosen = _select(runs, RLVR_FIGURES, lambda r: not r.variant)
    out = {}
    for setting, rs in _group([r for r in chosen if r.has_metrics], setting_label).items():
        by_m = _group(rs, lambda r: r.method)
        if "gift" in by_m and "grpo" in by_m:
            out[setting] = by_m
    return out


def claim_converges_faster(runs: Sequence[Run], fraction: float = CONVERGENCE_FRACTION) -> ClaimResult:
    """GIFT converges faster than GRPO (Figures 3-5)."""
    res = ClaimResult(
        "C1", "GIFT converges faster than GRPO", "Figures 3-5: eval pass@1 against step",
        f"In each RLVR setting (runs of Figures 3-5) take the seed-mean eval pass@1 curve of GIFT and of GRPO. "
        f"T = {fraction:.0%} of the larger of the two curves' final values. GIFT converges faster when its "
        f"curve first reaches T at an earlier logged step than GRPO's; if both first reach T at the same "
        f"step, GIFT converges faster when its normalised area under the curve (mean height over the steps "
        f"both curves cover) is larger.")
    outcomes = []
    for setting, by_m in _rlvr_pairs(runs).items():
        bands = {m: seed_band([r.series("eval_pass@1") for r in by_m[m]]) for m in ("gift", "grpo")}
        if any(b.empty for b in bands.values()):
            continue
        finals = {m: final_value(b.mean) for m, b in bands.items()}
        t = fraction * max(finals.values())
        reach = {m: steps_to_threshold(b.steps, b.mean, t) for m, b in bands.items()}
        lo = max(b.steps[0] for b in bands.values())
        hi = min(b.steps[-1] for b in bands.values())
        auc = {m: normalised_auc(b.steps, b.mean, lo, hi) for m, b in bands.items()}
        if reach["gift"] != reach["grpo"]:
            ok = reach["gift"] < reach["grpo"]
        elif auc["gift"] is not None and auc["grpo"] is not None:
            ok = auc["gift"] > auc["grpo"]
        else:
            continue
        ok = bool(ok)
        outcomes.append(ok)
        res.details.append({"setting": setting, "threshold": t, "GIFT steps to T": reach["gift"],
                            "GRPO steps to T": reach["grpo"], "GIFT AUC": auc["gift"], "GRPO AUC": auc["grpo"],
                            "GIFT seeds": len(by_m["gift"]), "GRPO seeds": len(by_m["grpo"]), "holds": ok})
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = "; ".join(
            f"{d['setting']}: T={_fmt(d['threshold'])}%, GIFT {_reach(d['GIFT steps to T'])}, "
            f"GRPO {_reach(d['GRPO steps to T'])} (AUC {_fmt(d['GIFT AUC'])} vs {_fmt(d['GRPO AUC'])})"
            for d in res.details)
    return res


def claim_overfits_less(runs: Sequence[Run]) -> ClaimResult:
    """GIFT overfits less than GRPO on GSM8K: a smaller train-eval gap at the end of training."""
    res = ClaimResult(
        "C2", "GIFT overfits less than GRPO on GSM8K (smaller train-eval gap)", "Figures 3-4, GSM8K panels",
        "In each RLVR setting whose dataset is GSM8K: a run's gap = final train pass@1 − final eval pass@1; "
        "GIFT overfits less when its seed-mean gap is smaller than GRPO's.")
    outcomes = []
    for setting, by_m in _rlvr_pairs(runs).items():
        if "gsm8k" not in setting.lower():
            continue

        def gap(r: Run) -> float | None:
            tr, ev = _final(r, "train_pass@1"), _final(r, "eval_pass@1")
            return None if tr is None or ev is None else tr - ev

        gaps = {m: _seed_mean(by_m[m], gap) for m in ("gift", "grpo")}
        if gaps["gift"][0] is None or gaps["grpo"][0] is None:
            continue
        ok = gaps["gift"][0] < gaps["grpo"][0]
        ok = bool(ok)
        outcomes.append(ok)
        res.details.append({"setting": setting, "GIFT gap": gaps["gift"][0], "GRPO gap": gaps["grpo"][0],
                            "GIFT seeds": gaps["gift"][1], "GRPO seeds": gaps["grpo"][1], "holds": ok})
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = "; ".join(f"{d['setting']}: gap GIFT {_fmt(d['GIFT gap'])} vs GRPO {_fmt(d['GRPO gap'])} "
                                 "points" for d in res.details)
    return res


def _finals_by_n(runs: Sequence[Run]) -> dict[str, dict[int, tuple[float, int]]]:
    chosen = _select(runs, ("fig2a",), lambda r: r.method == "gift" and rollouts(r) is not None)
    out: dict[str, dict[int, tuple[float, int]]] = {}
    for setting, rs in _group([r for r in chosen if r.has_metrics and rollouts(r) is not None],
                              setting_label).items():
        per_n = {}
        for n, rn in _group(rs, lambda r: str(rollouts(r))).items():
            m, k = _seed_mean(rn, lambda r: _final(r, "eval_pass@1"))
            if m is not None:
                per_n[int(n)] = (m, k)
        if len(per_n) >= 2:
            out[setting] = dict(sorted(per_n.items()))
    return out


def claim_more_rollouts_help(runs: Sequence[Run]) -> ClaimResult:
    """More rollouts per prompt help (Figure 2a)."""
    res = ClaimResult(
        "C3a", "More rollouts per prompt N help", "Figure 2a",
        "For each setting of the Figure 2a runs (GIFT, several N), f(N) = seed mean of the final eval pass@1. "
        "More rollouts help when f(largest N) > f(smallest N) and Spearman's rank correlation of f with N is "
        "positive (at least two values of N needed).")
    outcomes = []
    for setting, per_n in _finals_by_n(runs).items():
        ns = list(per_n)
        f = [per_n[n][0] for n in ns]
        rho = spearman(ns, f)
        ok = f[-1] > f[0] and rho is not None and rho > 0
        ok = bool(ok)
        outcomes.append(ok)
        res.details.append({"setting": setting, "f(N)": {n: round(v, 3) for n, (v, _) in per_n.items()},
                            "spearman": rho, "holds": ok})
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = "; ".join(
            f"{d['setting']}: " + ", ".join(f"N={n}: {v:.2f}%" for n, v in d["f(N)"].items())
            + f" (Spearman {_fmt(d['spearman'])})" for d in res.details)
    return res


def claim_small_gains_beyond(runs: Sequence[Run], pivot: int = ROLLOUT_PIVOT,
                             ratio: float = SMALL_GAIN_RATIO) -> ClaimResult:
    """Gains beyond N = 16 are small (Figure 2a)."""
    res = ClaimResult(
        "C3b", f"Gains beyond N = {pivot} rollouts are small", "Figure 2a",
        f"For each setting of the Figure 2a runs with N = {pivot}, some N < {pivot} and some N > {pivot}: "
        f"gain per doubling below = (f({pivot}) − f(N_min)) / log2({pivot}/N_min); above = (f(N_max) − "
        f"f({pivot})) / log2(N_max/{pivot}). The gains beyond {pivot} are small when the gain per doubling "
        f"below is positive and the gain per doubling above is less than {ratio:g} times it.")
    outcomes = []
    for setting, per_n in _finals_by_n(runs).items():
        ns = list(per_n)
        if pivot not in per_n or ns[0] >= pivot or ns[-1] <= pivot:
            continue
        f = {n: v for n, (v, _) in per_n.items()}
        below = (f[pivot] - f[ns[0]]) / math.log2(pivot / ns[0])
        above = (f[ns[-1]] - f[pivot]) / math.log2(ns[-1] / pivot)
        ok = below > 0 and above < ratio * below
        ok = bool(ok)
        outcomes.append(ok)
        res.details.append({"setting": setting, "gain per doubling below": below,
                            "gain per doubling above": above, "holds": ok})
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = "; ".join(f"{d['setting']}: {_fmt(d['gain per doubling below'])} points per doubling "
                                 f"up to N={pivot}, {_fmt(d['gain per doubling above'])} beyond"
                                 for d in res.details)
    else:
        res.measured = f"needs Figure 2a runs at N = {pivot} and on both sides of it"
    return res


def claim_kl_sum_beats_average(runs: Sequence[Run]) -> ClaimResult:
    """kl_sum beats kl_average (Figure 2b)."""
    res = ClaimResult(
        "C4", "The summed implicit reward (kl_sum) beats its token average (kl_average)", "Figure 2b",
        "For each setting of the Figure 2b runs: kl_sum beats kl_average when the seed mean of the final "
        "eval pass@1 with kl_sum is higher than with kl_average.")
    chosen = _select(runs, ("fig2b",), lambda r: r.method == "gift" and "kl_" in aggregation_label(r))
    outcomes = []
    for setting, rs in _group([r for r in chosen if r.has_metrics], setting_label).items():
        by_agg = _group(rs, lambda r: aggregation_label(r).replace(" (default)", ""))
        if "kl_sum" not in by_agg or "kl_average" not in by_agg:
            continue
        s, ks = _seed_mean(by_agg["kl_sum"], lambda r: _final(r, "eval_pass@1"))
        a, ka = _seed_mean(by_agg["kl_average"], lambda r: _final(r, "eval_pass@1"))
        if s is None or a is None:
            continue
        ok = s > a
        ok = bool(ok)
        outcomes.append(ok)
        res.details.append({"setting": setting, "kl_sum": s, "kl_average": a, "kl_sum seeds": ks,
                            "kl_average seeds": ka, "holds": ok})
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = "; ".join(f"{d['setting']}: final eval pass@1 kl_sum {_fmt(d['kl_sum'])}% vs kl_average "
                                 f"{_fmt(d['kl_average'])}%" for d in res.details)
    return res


def claim_responses_grow(runs: Sequence[Run]) -> ClaimResult:
    """GIFT's responses grow longer over training (Figure 5c, 5f)."""
    res = ClaimResult(
        "C5", "GIFT's responses grow longer during training", "Figure 5, panels c and f",
        "For each setting of the Figure 5 GIFT runs (all GIFT runs when no run is tagged with a figure): "
        "a run's growth = final − initial response length (tokens); the responses grow when the seed-mean "
        "growth is positive. GRPO's growth is shown beside it for context.")
    chosen = _select(runs, ("fig5",), lambda r: True)
    outcomes = []
    for setting, rs in _group([r for r in chosen if r.has_metrics], setting_label).items():
        by_m = _group(rs, lambda r: r.method)

        def growth(r: Run) -> float | None:
            vals = r.series("completion_length")[1]
            first, last = initial_value(vals), final_value(vals)
            return None if first is None else last - first

        g, k = _seed_mean(by_m.get("gift", []), growth)
        if g is None:
            continue
        other, _ = _seed_mean(by_m.get("grpo", []), growth)
        ok = g > 0
        ok = bool(ok)
        outcomes.append(ok)
        res.details.append({"setting": setting, "GIFT growth": g, "GIFT seeds": k, "GRPO growth": other,
                            "holds": ok})
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = "; ".join(f"{d['setting']}: GIFT {d['GIFT growth']:+.1f} tokens (GRPO "
                                 f"{'—' if d['GRPO growth'] is None else format(d['GRPO growth'], '+.1f')})"
                                 for d in res.details)
    return res


def _row_keys(rt: ReproducedTable, grid: Sequence[dict]) -> dict[str, tuple[str, str]]:
    """Row label -> (backbone, method) from the grid entries of the row's models (else from the label)."""
    by_id = {e["model_id"]: e for e in grid if e.get("model_id")}
    out = {}
    for info in rt.rows:
        entry = next((by_id[m] for m in info.model_ids if m in by_id), {})
        backbone = entry.get("backbone")
        method = entry.get("method")
        if not backbone or not method:
            head, _, tail = info.label.rpartition("-")
            backbone, method = backbone or head, method or tail
        out[info.label] = (str(backbone), str(method).lower())
    return out


def _paper_wins(rt: ReproducedTable) -> tuple[int, int]:
    wins = total = 0
    for col in rt.table.columns:
        if col.higher_is_better is not True:
            continue
        for row in rt.table.rows:
            if not row.endswith("-GIFT"):
                continue
            g = rt.table.value(row, col.key)
            r = rt.table.value(row[: -len("GIFT")] + "GRPO", col.key)
            if g and r:
                total += 1
                wins += g.value > r.value
    return wins, total


def claim_beats_grpo_on_tables(tables: Sequence[ReproducedTable], grid: Sequence[dict]) -> ClaimResult:
    """GIFT beats GRPO on Tables 2 and 3."""
    res = ClaimResult(
        "C6", "GIFT beats GRPO on the benchmarks of Tables 2 and 3", "Tables 2 and 3",
        "For each backbone with both a GIFT and a GRPO model, and each column where higher is better (all but "
        "AlpacaEval length): GIFT wins the cell when its reproduced seed mean is higher than GRPO's. The claim "
        "is supported when GIFT wins more than half of the cells both were measured in.")
    outcomes = []
    paper_w = paper_t = 0
    for rt in tables:
        pw, pt = _paper_wins(rt)
        paper_w, paper_t = paper_w + pw, paper_t + pt
        keys = _row_keys(rt, grid)
        by_backbone: dict[str, dict[str, str]] = {}
        for label, (backbone, method) in keys.items():
            by_backbone.setdefault(backbone, {})[method] = label
        for backbone, rows in by_backbone.items():
            if "gift" not in rows or "grpo" not in rows:
                continue
            for col in rt.table.columns:
                if col.higher_is_better is not True:
                    continue
                g, r = rt.cell(rows["gift"], col.key), rt.cell(rows["grpo"], col.key)
                if g.mean is None or r.mean is None:
                    continue
                ok = bool(g.mean > r.mean)
                outcomes.append(ok)
                res.details.append({"table": rt.table.name, "backbone": backbone, "column": col.label,
                                    "GIFT": g.mean, "GRPO": r.mean, "paper rows": g.section == PAPER_SECTION,
                                    "holds": ok})
    res.paper = f"Tables 2 and 3 (paper: GIFT higher in {paper_w} of {paper_t} cells)"
    res.verdict = verdict_of(outcomes)
    if res.details:
        res.measured = (f"GIFT higher in {sum(outcomes)} of {len(outcomes)} cells measured for both ("
                        + ", ".join(sorted({f"{d['table']} {d['backbone']}" for d in res.details})) + ")")
    return res


def evaluate_claims(runs: Sequence[Run], tables: Sequence[ReproducedTable], grid: Sequence[dict],
                    rollout_pivot: int = ROLLOUT_PIVOT) -> list[ClaimResult]:
    """Every claim of the paper the report checks, in the paper's order."""
    return [
        claim_converges_faster(runs),
        claim_overfits_less(runs),
        claim_more_rollouts_help(runs),
        claim_small_gains_beyond(runs, pivot=rollout_pivot),
        claim_kl_sum_beats_average(runs),
        claim_responses_grow(runs),
        claim_beats_grpo_on_tables(tables, grid),
    ]

