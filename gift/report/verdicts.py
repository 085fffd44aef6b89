"""Verdicts with their uncertainty: a statistic's bootstrap interval, the setting and aggregation rules, and the
pairing of GIFT and GRPO runs by setting that most claims compare.

A statistic's positive sign is the paper's direction. Its interval comes from a hierarchical bootstrap over
seeds and evaluation sampling (`gift.report.stats.INTERVAL_METHOD`); a setting is `supported` when the
interval lies above 0, `contradicted` when it lies below 0 and `inconclusive` when it holds 0.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gift.report.inputs import Run
from gift.report.labels import setting_label
from gift.report.observations import _group, _obs
from gift.report.stats import TAIL_FRACTION, Obs, group_means, hierarchical_bootstrap, percentile_interval

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_MEASURED = "not measured"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED)

RLVR_FIGURES = ("fig3", "fig4", "fig5")

SETTING_RULE = (f"A setting is {SUPPORTED} when the 95% interval of its statistic lies entirely on the paper's "
                f"side of 0, {CONTRADICTED} when it lies entirely on the other side, {INCONCLUSIVE} when it "
                f"holds 0 (the difference is inside the noise) or there is no noise estimate.")

AGGREGATION_RULE = (f"A claim tested in several settings (backbone · dataset) is {SUPPORTED} when at least one "
                    f"setting supports it and none contradicts it, {CONTRADICTED} when at least one setting "
                    f"contradicts it and none supports it, {INCONCLUSIVE} otherwise (no decisive setting, or "
                    f"settings that disagree), and {NOT_MEASURED} when no setting had the runs it needs. A claim "
                    f"the paper states as holding everywhere (\"consistently\") is {SUPPORTED} only when every "
                    f"setting supports it and {CONTRADICTED} as soon as one contradicts it. The counts over "
                    f"settings are shown beside each verdict.")

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
    counts: dict = field(default_factory=lambda: {SUPPORTED: 0, CONTRADICTED: 0, INCONCLUSIVE: 0})
    details: list[dict] = field(default_factory=list)


@dataclass
class Assessment:
    """A statistic's point estimate, its 95% interval (None: no noise estimate) and the setting's verdict."""

    estimate: float
    interval: tuple[float, float] | None
    verdict: str

    def text(self, unit: str = "", d: int = 2) -> str:
        """'+3.10 [0.52, 5.71] points'."""
        iv = "no interval" if self.interval is None else f"[{self.interval[0]:+.{d}f}, {self.interval[1]:+.{d}f}]"
        return f"{self.estimate:+.{d}f} {iv}{(' ' + unit) if unit else ''}"


def judge(interval: tuple[float, float] | None) -> str:
    """The setting rule (SETTING_RULE) for a statistic whose positive sign is the paper's direction."""
    if interval is None:
        return INCONCLUSIVE
    lo, hi = interval
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def assess(groups: dict[str, Sequence[Obs]], statistic: Callable[[dict[str, np.ndarray]], np.ndarray],
                   key: str = "") -> Assessment:
    """Point estimate (on the observed group means), bootstrap interval and verdict of a statistic."""
    estimate = float(np.asarray(statistic(group_means(groups)), dtype=float).ravel()[0])
    # a seed per setting and statistic: the report is reproducible and settings do not share draws
    draws = hierarchical_bootstrap(groups, statistic, seed=zlib.crc32(key.encode()))
    interval = percentile_interval(draws)
    return Assessment(estimate, interval, judge(interval))


def both(a: Assessment, b: Assessment) -> str:
    """A two-part claim: supported when both parts are, contradicted when either part is."""
    if CONTRADICTED in (a.verdict, b.verdict):
        return CONTRADICTED
    if a.verdict == b.verdict == SUPPORTED:
        return SUPPORTED
    return INCONCLUSIVE


def verdict_of(verdicts: Sequence[str], every: bool = False) -> str:
    """The aggregation rule over settings (see AGGREGATION_RULE); `every` for claims stated as consistent."""
    vs = [v for v in verdicts if v != NOT_MEASURED]
    if not vs:
        return NOT_MEASURED
    sup, con = vs.count(SUPPORTED), vs.count(CONTRADICTED)
    if every:
        return CONTRADICTED if con else SUPPORTED if sup == len(vs) else INCONCLUSIVE
    if sup and not con:
        return SUPPORTED
    if con and not sup:
        return CONTRADICTED
    return INCONCLUSIVE


def finish_claim(res: ClaimResult, every: bool = False) -> ClaimResult:
    verdicts = [d["verdict"] for d in res.details]
    res.counts = {v: verdicts.count(v) for v in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)}
    res.verdict = verdict_of(verdicts, every=every)
    if res.details:
        counts = ", ".join(f"{n} {v}" for v, n in res.counts.items())
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
    for setting, rs in _group([r for r in chosen if r.has_metrics], setting_label).items():
        by_m = _group(rs, lambda r: r.method)
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
        groups = {m: _obs(by_m[m], setting_observe) for m in ("gift", "grpo")}
        if not all(groups.values()):
            continue
        t = assess(groups, difference(), f"{res.cid} {setting}")
        gm = group_means(groups)
        res.details.append(setting_row(setting, t, unit, GIFT=gm["gift"][0], GRPO=gm["grpo"][0], **extra,
                                       **seed_counts(by_m)))
    return finish_claim(res)


def difference(a: str = "gift", b: str = "grpo") -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    return lambda m: m[a] - m[b]


def interval_cell(t: Assessment) -> str:
    return "—" if t.interval is None else f"[{t.interval[0]:+.2f}, {t.interval[1]:+.2f}]"


def setting_row(setting: str, t: Assessment, unit: str, verdict: str | None = None, **extra) -> dict:
    return {"setting": setting, "difference": t.estimate, "95% interval": interval_cell(t), **extra,
            "verdict": verdict or t.verdict, "measured": t.text(unit)}


def seed_counts(by_m: dict[str, list[Run]]) -> dict:
    return {f"{m.upper()} seeds": len(rs) for m, rs in sorted(by_m.items())}


