"""Verdicts with their uncertainty: a statistic's interval, the setting and aggregation rules, and the
pairing of GIFT and GRPO runs by setting that most claims compare.

A statistic's positive sign is the paper's direction. It is a linear contrast of seed means with a Welch
t-interval over seeds (`gift.report.stats.INTERVAL_METHOD`). A claim's settings form one family: a setting
decides when its Holm-adjusted p-value is below 5%, so that the chance of any decisive setting when nothing
is there stays at 5% however many settings a config has (AGGREGATION_RULE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gift.report.inputs import Run
from gift.report.labels import setting_label
from gift.report.observations import group_runs, observations_of
from gift.report.stats import (
    ALPHA,
    SEEDS,
    TAIL_FRACTION,
    Interval,
    Obs,
    contrast_interval,
    detectable_difference,
    group_means,
    holm,
    seeds_needed,
)

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NO_VERDICT = "no verdict"
NOT_MEASURED = "not measured"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NO_VERDICT, NOT_MEASURED)
COUNTED = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NO_VERDICT)

RLVR_FIGURES = ("fig3", "fig4", "fig5")

SETTING_RULE = (f"A setting's statistic gets a Welch t-interval over seeds and a two-sided p-value. With fewer "
                f"than 2 seeds in a compared group there is no seed spread to judge against: {NO_VERDICT} "
                f"('1 seed: no verdict'), whatever its evaluation-only interval shows. Otherwise the setting is "
                f"{SUPPORTED} when its Holm-adjusted p-value (next rule) is below {ALPHA:.0%} and the estimate is "
                f"on the paper's side of 0, {CONTRADICTED} when it is below {ALPHA:.0%} on the other side, "
                f"{INCONCLUSIVE} otherwise. A setting tested by several statistics at once (\"higher in training, "
                f"lower in evaluation\") supports the claim when every part does (its p-value is the largest of "
                f"the parts': an intersection-union test) and contradicts it when a part goes the other way (the "
                f"smallest p-value of those parts times the number of parts: Bonferroni).")

AGGREGATION_RULE = (f"Stated before any run: a claim's settings (backbone · dataset) are one family, and their "
                    f"p-values are adjusted by Holm's step-down method, which keeps the chance that any setting is "
                    f"decisive when no setting has an effect at {ALPHA:.0%}. The claim is {SUPPORTED} when at least "
                    f"one setting supports it and none contradicts it, {CONTRADICTED} when at least one contradicts "
                    f"it and none supports it, {INCONCLUSIVE} otherwise (no decisive setting, or decisive settings "
                    f"that disagree), {NO_VERDICT} when no setting has 2 seeds per compared group, and "
                    f"{NOT_MEASURED} when no setting had the runs it needs. A claim the paper states as holding "
                    f"everywhere (\"consistently\") is {SUPPORTED} only when every setting supports it at "
                    f"{ALPHA:.0%} unadjusted (an intersection-union test needs no adjustment) and {CONTRADICTED} "
                    f"as soon as one contradicts it after Holm's adjustment. The counts over settings are shown "
                    f"beside each verdict.")

TAIL_TEXT = (f"A run's final value of a metric is the mean of its last {TAIL_FRACTION:.0%} of logged points "
             f"(at least the last one); its initial value, the mean of its first {TAIL_FRACTION:.0%}.")


@dataclass
class ClaimResult:
    """One claim of the paper, its words, the rule that tests it, what was measured, and the verdict."""

    cid: str
    claim: str
    paper: str
    rule: str
    quote: str | None = None
    verdict: str = NOT_MEASURED
    measured: str = "no runs with the metrics this rule needs"
    counts: dict = field(default_factory=lambda: {v: 0 for v in COUNTED})
    details: list[dict] = field(default_factory=list)
    every: bool = False
    # {setting: Assessment} of the single-statistic settings (the Answer section reads them); not serialised
    assessments: dict = field(default_factory=dict)


@dataclass
class Assessment:
    """A statistic's point estimate, its interval (None: no noise estimate), its p-value and direction, and the
    setting's verdict before the family's adjustment."""

    estimate: float
    interval: Interval | None
    verdict: str
    p: float | None = None
    counts: tuple[int, ...] = ()

    @property
    def decisive_possible(self) -> bool:
        """True when the statistic has a seed interval (so that a verdict can be given)."""
        return self.p is not None

    def text(self, unit: str = "", d: int = 2) -> str:
        """'+3.10 [+0.52, +5.71] points', with the evaluation-only label where that is all there is."""
        return f"{self.estimate:+.{d}f} {interval_text(self, d)}{(' ' + unit) if unit else ''}"

    def detectable(self, settings: int = 1) -> float | None:
        """The smallest difference this setting detects with 80% power in a family of `settings` (None: no seed
        interval)."""
        return None if self.interval is None else detectable_difference(self.interval, ALPHA / max(settings, 1))

    def seeds_for_power(self, settings: int = 1) -> int | None:
        """Seeds per group at which the observed difference would be detected with 80% power."""
        return None if self.interval is None else seeds_needed(self.interval, ALPHA / max(settings, 1))


def interval_text(t: Assessment, d: int = 2) -> str:
    iv = t.interval
    if iv is None:
        return "no interval"
    body = f"[{iv.lo:+.{d}f}, {iv.hi:+.{d}f}]"
    if iv.kind != SEEDS:
        return f"{body} (evaluation only)"
    return body


def judge(iv: Interval | None, alpha: float = ALPHA) -> str:
    """The unadjusted setting rule (SETTING_RULE): decisive at `alpha` on the estimate's side."""
    if iv is None or iv.kind != SEEDS:
        return NO_VERDICT
    if iv.p < alpha:
        return SUPPORTED if iv.estimate > 0 else CONTRADICTED
    return INCONCLUSIVE


def assess(groups: dict[str, Sequence[Obs]], weights: dict[str, float], key: str = "") -> Assessment:
    """Estimate, interval and unadjusted verdict of the contrast Σ weights[g] × mean(group g)."""
    iv = contrast_interval(groups, weights)
    counts = tuple(len(groups[g]) for g in weights)
    if iv is None:
        means = group_means(groups)
        est = sum(w * means[g] for g, w in weights.items())
        return Assessment(est, None, NO_VERDICT, None, counts)
    return Assessment(iv.estimate, iv, judge(iv), iv.p if iv.kind == SEEDS else None, counts)


def all_parts(parts: Sequence[Assessment], guards: Sequence[Assessment] = ()) -> Assessment:
    """A setting tested by several statistics (SETTING_RULE): its p-value and direction.

    `parts` must each be on the paper's side to support the claim; `guards` must only not go against it.
    Every part on the paper's side: p = the largest part p (intersection-union). A part or guard on the other
    side: p = that side's smallest p times the number of statistics (Bonferroni), direction against the paper.
    """
    tested = list(parts) + list(guards)
    if any(not a.decisive_possible for a in tested):
        return Assessment(0.0, None, NO_VERDICT)
    against = [a for a in parts if a.estimate <= 0] + [a for a in guards if a.estimate < 0]
    p_against = min(1.0, len(tested) * min(a.p for a in against)) if against else 1.0
    if p_against < ALPHA or any(a.estimate <= 0 for a in parts):
        return Assessment(-1.0, None, CONTRADICTED if p_against < ALPHA else INCONCLUSIVE, p_against)
    p = max(a.p for a in parts)
    return Assessment(1.0, None, SUPPORTED if p < ALPHA else INCONCLUSIVE, p)


def both(a: Assessment, b: Assessment) -> Assessment:
    """A two-part setting (all_parts of two)."""
    return all_parts([a, b])


def family_verdicts(rows: Sequence[tuple[float, float | None]], every: bool = False,
                    alpha: float = ALPHA) -> tuple[list[str], list[float | None], str]:
    """The aggregation rule (AGGREGATION_RULE) over a claim's settings.

    `rows`: (estimate sign or value, p-value or None for no verdict). Returns each setting's verdict after Holm's
    adjustment, the adjusted p-values and the claim's verdict.
    """
    if not rows:
        return [], [], NOT_MEASURED
    idx = [i for i, (_, p) in enumerate(rows) if p is not None]
    adjusted: list[float | None] = [None] * len(rows)
    for i, q in zip(idx, holm([rows[i][1] for i in idx]), strict=True):
        adjusted[i] = q
    verdicts = []
    for (est, _), q in zip(rows, adjusted, strict=True):
        if q is None:
            verdicts.append(NO_VERDICT)
        elif q < alpha:
            verdicts.append(SUPPORTED if est > 0 else CONTRADICTED)
        else:
            verdicts.append(INCONCLUSIVE)
    if not idx:
        return verdicts, adjusted, NO_VERDICT
    sup, con = verdicts.count(SUPPORTED), verdicts.count(CONTRADICTED)
    if every:
        if con:
            claim = CONTRADICTED
        elif all(p is not None and p < alpha and est > 0 for est, p in rows):
            claim = SUPPORTED
            verdicts = [SUPPORTED] * len(rows)
        else:
            claim = INCONCLUSIVE
    elif sup and not con:
        claim = SUPPORTED
    elif con and not sup:
        claim = CONTRADICTED
    else:
        claim = INCONCLUSIVE
    return verdicts, adjusted, claim


def finish_claim(res: ClaimResult, every: bool = False) -> ClaimResult:
    """Apply the family rule to the settings in `res.details` (each with '_estimate' and '_p')."""
    res.every = every
    rows = [(d.pop("_estimate"), d.pop("_p")) for d in res.details]
    for d in res.details:
        if "_assessment" in d:
            res.assessments[d["setting"]] = d.pop("_assessment")
    verdicts, adjusted, res.verdict = family_verdicts(rows, every=every)
    family = sum(p is not None for _, p in rows)
    for d, v, q in zip(res.details, verdicts, adjusted, strict=True):
        d["Holm p"] = q
        d["verdict"] = v
        t = res.assessments.get(d["setting"])
        if "detectable (80% power)" in d and t is not None:
            # at the level Holm's first step asks of a setting in this family: 5% / settings
            d["detectable (80% power)"] = t.detectable(family)
    res.counts = {v: verdicts.count(v) for v in COUNTED}
    if res.details:
        counts = ", ".join(f"{n} {v}" for v, n in res.counts.items() if n)
        per = "; ".join(f"{d['setting']}: {d['measured']} ({d['verdict']})" for d in res.details
                        if d.get("measured"))
        res.measured = per or f"settings: {counts}"
    return res


# ---------------------------------------------------------------- pairing GIFT and GRPO runs by setting


def select_runs(runs: Sequence[Run], figures: Sequence[str] | None, fallback: Callable[[Run], bool]) -> list[Run]:
    """Runs of the named figures; if no run names any figure (or `figures` is None), the runs `fallback` accepts."""
    if figures is None:
        return list(runs)
    tagged = [r for r in runs if r.figures & set(figures)]
    if any(r.figures for r in runs):
        return tagged
    return [r for r in runs if fallback(r)]


def gift_grpo_pairs(runs: Sequence[Run], figures: Sequence[str] | None, fallback: Callable[[Run], bool]
           ) -> dict[str, dict[str, list[Run]]]:
    """{setting: {"gift": runs, "grpo": runs}} for the settings with runs of both methods."""
    chosen = select_runs(runs, figures, fallback)
    out = {}
    for setting, rs in group_runs([r for r in chosen if r.has_metrics], setting_label).items():
        by_m = group_runs(rs, lambda r: r.method)
        if "gift" in by_m and "grpo" in by_m:
            out[setting] = by_m
    return out


def rlvr_pairs(runs: Sequence[Run], figures: Sequence[str] | None = RLVR_FIGURES) -> dict[str, dict[str, list[Run]]]:
    return gift_grpo_pairs(runs, figures, lambda r: not r.variant and bool(r.eval_dataset))


def rlhf_pairs(runs: Sequence[Run]) -> dict[str, dict[str, list[Run]]]:
    return gift_grpo_pairs(runs, ("fig6",), lambda r: not r.variant and not r.eval_dataset)


def gift_minus_grpo(res: ClaimResult, settings: dict[str, dict[str, list[Run]]], observe: Callable,
                     unit: str, observe_for: Callable[[dict[str, list[Run]]], tuple[Callable, dict]] | None = None,
                     ) -> ClaimResult:
    """Per setting with both methods: statistic = GIFT − GRPO of `observe` (one observation per run).

    `observe_for(runs by method)`, when given, picks the observation per setting instead and returns it with
    extra columns for the setting's row (e.g. what the value was measured on).
    """
    for setting, by_m in settings.items():
        setting_observe, extra = (observe, {}) if observe_for is None else observe_for(by_m)
        groups = {m: observations_of(by_m[m], setting_observe) for m in ("gift", "grpo")}
        if not all(groups.values()):
            continue
        t = assess(groups, difference(), f"{res.cid} {setting}")
        gm = group_means(groups)
        res.details.append(setting_row(setting, t, unit, GIFT=gm["gift"], GRPO=gm["grpo"], **extra,
                                       **seed_counts(by_m)))
    return finish_claim(res)


def difference(a: str = "gift", b: str = "grpo") -> dict[str, float]:
    """The contrast mean(a) − mean(b)."""
    return {a: 1.0, b: -1.0}


def interval_cell(t: Assessment) -> str:
    return "—" if t.interval is None else interval_text(t)


def setting_row(setting: str, t: Assessment, unit: str, **extra) -> dict:
    """A setting's row: its estimate, interval, detectable difference and (internal) estimate and p-value,
    which finish_claim turns into the Holm-adjusted verdict."""
    return {"setting": setting, "difference": t.estimate, "95% interval": interval_cell(t),
            "p": t.p, **extra, "detectable (80% power)": None,
            "measured": t.text(unit), "_estimate": t.estimate, "_p": t.p, "_assessment": t}


def part_row(setting: str, verdict: Assessment, **extra) -> dict:
    """A setting tested by several statistics (all_parts): its combined p-value and direction."""
    return {"setting": setting, **extra, "p": verdict.p, "_estimate": verdict.estimate, "_p": verdict.p}


def seed_counts(by_m: dict[str, list[Run]]) -> dict:
    return {f"{m.upper()} seeds": len(rs) for m, rs in sorted(by_m.items())}
