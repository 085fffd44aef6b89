"""Sweeps: each method's value picked on the held-out selection split, the figure, and the claims at the picks.

A sweep experiment (`sweep:` in the config) runs every method at several values of one argument, with
the same seeds. The selection rule is the config's (`sweep.select`, default: the highest mean over seeds
of each run's mean `selection_pass@1` over its last third of training). The claims are then judged on
the eval split, which the choice never saw, at each method's selected value, and beside that at the
values the config uses without a sweep (the unswept comparison).

A value picked as the best of several is, on the runs that picked it, better than it truly is (the winner's
curse): the runs' seed luck is shared by the selection and the eval split. With `select.seeds`, only those
seeds pick, and the claims at the picks are judged on the experiment's other seeds; without it, the report
says that the picks are judged on the runs that chose them. A pick at either end of the swept values is
flagged: the best value may lie beyond the range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from gift.report.claims import ClaimResult, claim_converges_faster, claim_higher_final_pass
from gift.report.inputs import Run
from gift.report.labels import method_name, setting_label
from gift.report.stats import final_value, mean_sd

SELECTED = "selected"
UNSWEPT = "unswept"


@dataclass
class ArmSelection:
    """One method (with its variant) in one sweep setting: its score at every value and the value picked."""

    arm: str
    arg: str
    default: object
    scores: dict[float, tuple[float | None, int]] = field(default_factory=dict)
    """value -> (mean selection score over seeds, seeds with a score)."""
    selected: float | None = None
    edge: bool = False
    """True when the pick is the smallest or the largest swept value."""


@dataclass
class SweepSetting:
    """A sweep experiment on one backbone · dataset: its arms, their runs per value and the selections."""

    experiment: str
    setting: str
    arg: str
    select: dict
    runs: dict[str, dict[float, list[Run]]]
    arms: dict[str, ArmSelection] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def pick_seeds(self) -> set | None:
        """The seeds that pick the values (None: every seed)."""
        seeds = self.select.get("seeds")
        return None if not seeds else set(seeds)

    def picks(self, r: Run) -> bool:
        """True for a run whose seed takes part in the selection."""
        return self.pick_seeds is None or r.seed in self.pick_seeds


def arm_label(arm: str) -> str:
    """'gift-reference' -> 'GIFT (reference)'."""
    method, _, variant = arm.partition("-")
    return method_name(method) + (f" ({variant})" if variant else "")


def selection_score(run: Run, select: dict) -> float | None:
    """Mean of the selection metric over the run's last `select['last']` of training (by step)."""
    steps, vals = run.series(select["metric"])
    if not vals.size:
        return None
    # a relative tolerance: a third written as 0.3333333333 still starts the last third of 60 steps at step 40
    start = (1.0 - float(select["last"])) * float(steps[-1]) * (1.0 - 1e-6)
    return float(vals[steps >= start].mean())


def sweep_settings(runs: Sequence[Run]) -> list[SweepSetting]:
    """Group the sweep runs by experiment and setting, and apply each setting's selection rule."""
    out: dict[tuple[str, str], SweepSetting] = {}
    for r in runs:
        sw = r.entry.get("sweep")
        if not sw:
            continue
        key = (sw["experiment"], setting_label(r))
        s = out.setdefault(key, SweepSetting(sw["experiment"], key[1], sw["arg"], dict(sw["select"]), {}))
        s.runs.setdefault(sw["arm"], {}).setdefault(float(sw["value"]), []).append(r)
        if sw["arm"] not in s.arms:
            s.arms[sw["arm"]] = ArmSelection(sw["arm"], sw["arg"], sw.get("default"))
    for s in out.values():
        _select(s)
    return list(out.values())


def _select(s: SweepSetting) -> None:
    """The selection rule: per arm, the value with the highest mean score over its seeds (ties: the first)."""
    budgets = {}
    for arm, by_value in s.runs.items():
        sel = s.arms[arm]
        for value in sorted(by_value):
            scores = [x for x in (selection_score(r, s.select) for r in by_value[value]
                                  if r.has_metrics and s.picks(r)) if x is not None]
            m, _, n = mean_sd(scores)
            sel.scores[value] = (m, n)
        scored = [(v, m) for v, (m, _) in sel.scores.items() if m is not None]
        if scored:
            sel.selected = max(scored, key=lambda vm: vm[1])[0]
            sel.edge = len(sel.scores) > 1 and sel.selected in (min(sel.scores), max(sel.scores))
            if sel.edge:
                where = "smallest" if sel.selected == min(sel.scores) else "largest"
                s.flags.append(f"{arm_label(arm)}: the pick {s.arg}={_fmt_value(sel.selected)} is the {where} "
                               "swept value; the best value may lie beyond the range")
        budgets[arm] = (sum(1 for _, (m, _) in sel.scores.items() if m is not None),
                        sorted({n for _, (_, n) in sel.scores.items()}), len(sel.scores))
    if s.pick_seeds is None:
        s.flags.append("every seed took part in picking the values, and the claims at the picks are judged on the "
                       "same runs: their advantage there is optimistic (the winner's curse); `select.seeds` leaves "
                       "seeds out of the choice to confirm the picks")
    if len({repr(b[:2]) for b in budgets.values()}) > 1:
        s.problems.append("unequal tuning budgets in the results (some runs have no metrics yet): "
                          + "; ".join(f"{arm_label(a)} {b[0]} of {b[2]} values scored, seeds per value "
                                      f"{', '.join(map(str, b[1]))}" for a, b in budgets.items()))


def _relabel(runs: Sequence[Run], label: str) -> list[Run]:
    """Copies of runs whose setting is `label` (so that the claims name the compared values)."""
    out = []
    for r in runs:
        entry = {**r.entry, "backbone_label": label, "dataset": "", "eval_dataset": "", "variant": {}}
        out.append(Run(run_id=r.run_id, entry=entry, path=r.path, metrics=r.metrics, done=r.done))
    return out


def _fmt_value(v: object) -> str:
    return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def comparisons(s: SweepSetting, which: str) -> list[tuple[str, list[Run]]]:
    """(label, runs) of every GIFT arm against every GRPO arm at the selected or the unswept values."""
    gift_arms = [a for a in s.arms if a.split("-")[0] == "gift"]
    grpo_arms = [a for a in s.arms if a.split("-")[0] == "grpo"]
    out = []
    for g in gift_arms:
        for r in grpo_arms:
            vals = {}
            for arm in (g, r):
                sel = s.arms[arm]
                v = sel.selected if which == SELECTED else sel.default
                vals[arm] = None if v is None else float(v)
            if any(v is None or v not in s.runs[a] for a, v in vals.items()):
                continue
            label = (f"{s.setting}: {arm_label(g)} at {s.arg}={_fmt_value(vals[g])} vs {arm_label(r)} at "
                     f"{_fmt_value(vals[r])}")
            g_runs, r_runs = s.runs[g][vals[g]], s.runs[r][vals[r]]
            if which == SELECTED and s.pick_seeds is not None:
                # confirmed on the seeds that did not pick
                g_runs, r_runs = [x for x in g_runs if not s.picks(x)], [x for x in r_runs if not s.picks(x)]
                confirm = sorted({x.seed for x in g_runs + r_runs}, key=str)
                label += f" (confirmed on seed{'s' if len(confirm) != 1 else ''} {', '.join(map(str, confirm))})"
            out.append((label, _relabel(g_runs, label) + _relabel(r_runs, label)))
    return out


def sweep_claims(settings: Sequence[SweepSetting]) -> dict[str, list[ClaimResult]]:
    """C1 and C7 judged at each method's selected value and at its unswept value, per comparison."""
    out: dict[str, list[ClaimResult]] = {}
    for which in (SELECTED, UNSWEPT):
        runs: list[Run] = []
        for s in settings:
            for _, rs in comparisons(s, which):
                runs += rs
        out[which] = [claim_converges_faster(runs, figures=None), claim_higher_final_pass(runs, figures=None)]
    return out


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float | None, float | None, int]:
    """Mean and half-width of the t interval over seeds (half-width None below two values)."""
    m, sd, n = mean_sd(values)
    if n < 2 or sd is None:
        return m, None, n
    from scipy.stats import t

    return m, float(t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)), n


def sweep_markdown(settings: Sequence[SweepSetting], claims: dict[str, list[ClaimResult]]) -> str:
    """The sweep section of REPORT.md: the rule, the scores and picks, and the claims at the picks."""
    from gift.report.report import VERDICT_MARK

    if not settings:
        return ""
    s0 = settings[0]
    out = ["## Sweeps: each method at its best value", "",
           f"Selection rule (from the config): for each method, the swept value with the highest mean over seeds "
           f"of each run's mean `{s0.select['metric']}` over its last {float(s0.select['last']):.0%} of training "
           f"steps, on the held-out selection split (train examples held out of training; never the eval split "
           f"the claims are judged on). Ties go to the first value. Every method has the same values count and "
           f"seeds (checked when the config is read).", ""]
    for s in settings:
        out += [f"### {s.setting} ({s.experiment}, sweeping `{s.arg}`)", ""]
        values = sorted({v for a in s.arms.values() for v in a.scores})
        out.append("| method | " + " | ".join(_fmt_value(v) for v in values) + " | selected | unswept |")
        out.append("| --- |" + " --- |" * (len(values) + 2))
        for arm, sel in s.arms.items():
            cells = []
            for v in values:
                m, n = sel.scores.get(v, (None, 0))
                cell = "—" if m is None else f"{m:.1f} (n={n})"
                cells.append(f"**{cell}**" if v == sel.selected else cell)
            out.append(f"| {arm_label(arm)} | " + " | ".join(cells) + f" | {_fmt_value(sel.selected)} | "
                       f"{_fmt_value(sel.default)} |")
        out.append("")
        pick = ("seeds " + ", ".join(map(str, sorted(s.pick_seeds))) + " picked the values; the claims at the picks "
                "are judged on the others") if s.pick_seeds else ""
        if pick:
            out += [pick, ""]
        if s.problems or s.flags:
            out += [f"- {p}" for p in s.problems + s.flags] + [""]
    out += ["### Claims at the selected values, beside the unswept comparison", "",
            "| | Claim | At the selected values | Verdict | At the unswept values | Verdict |",
            "| --- | --- | --- | --- | --- | --- |"]
    for sel_c, uns_c in zip(claims[SELECTED], claims[UNSWEPT], strict=True):
        out.append(f"| {sel_c.cid} | {sel_c.claim} | {sel_c.measured} | {VERDICT_MARK[sel_c.verdict]} | "
                   f"{uns_c.measured} | {VERDICT_MARK[uns_c.verdict]} |")
    out += ["", "The rules are those of the claims above (same statistic, interval and verdict), applied to the "
            "runs of each comparison.", ""]
    return "\n".join(out) + "\n"


def sweep_figure(runs: Sequence[Run], config_name: str):
    """Final eval pass@1 (mean and 95% t interval over seeds) against the swept value, one line per method."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    from gift.report import provenance as prov
    from gift.report.style import FigureResult, footnote, method_style, not_run_text, style_axes

    settings = sweep_settings(runs)
    n = max(1, len(settings))
    fig, axes = plt.subplots(1, n, figsize=(6.2 * n, 4.6), squeeze=False)
    record = prov.header(config_name, "figure", "sweep", [str(r.path) for r in runs if r.path])
    record["settings"] = []
    arg = settings[0].arg if settings else "value"
    for ax, s in zip(axes[0], settings or [None], strict=True):
        if s is None:
            not_run_text(ax)
            ax.set_title("no sweep runs", fontsize=10)
            continue
        rec = {"setting": s.setting, "experiment": s.experiment, "arg": s.arg, "series": []}
        for arm, by_value in s.runs.items():
            xs, ms, hs, pts = [], [], [], []
            for v in sorted(by_value):
                finals = [f for f in (final_value(r.series("eval_pass@1")[1]) for r in by_value[v] if r.has_metrics)
                          if f is not None]
                m, h, k = t_interval(finals)
                pts.append({"value": v, "mean": m, "half_width_95": h, "n": k,
                            "runs": [r.run_id for r in by_value[v]]})
                if m is not None:
                    xs.append(v)
                    ms.append(m)
                    hs.append(0.0 if h is None else h)
            rec["series"].append({"arm": arm, "selected": s.arms[arm].selected, "points": pts})
            if not xs:
                continue
            # the method's colour and line style (gift.report.style); its other variants (GIFT's two references)
            # keep the colour with a style of their own
            method = arm.split("-")[0]
            color, style, marker = method_style(method, [a for a in s.runs if a.split("-")[0] == method].index(arm))
            ax.errorbar(xs, ms, yerr=hs, color=color, linestyle=style, marker=marker, markersize=4, capsize=3,
                        linewidth=1.6, label=arm_label(arm))
            sel = s.arms[arm].selected
            if sel in xs:
                ax.plot([sel], [ms[xs.index(sel)]], marker="*", markersize=14, color=color, linestyle="none")
        ax.set_xscale("log")
        # a labelled tick at every swept value (a log axis labels only the powers of ten)
        values = sorted({v for by_value in s.runs.values() for v in by_value})
        ax.set_xticks(values, [_fmt_value(v) for v in values])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(f"{s.arg} (log scale)")
        ax.set_ylabel("final eval pass@1 (%)")
        ax.set_title(s.setting, fontsize=10)
        style_axes(ax)
        if any(p["mean"] is not None for ser in rec["series"] for p in ser["points"]):
            ax.legend(fontsize=8, frameon=False, loc="best")
        else:
            not_run_text(ax)
        record["settings"].append(rec)
    fig.suptitle(f"Sweep of {arg}: final eval pass@1 per method\n[config: {config_name}]", fontsize=11)
    foot = ("Points: mean over seeds of each run's final eval pass@1 (mean of its last 10% of logged points, on the "
            "eval split); error bars: 95% t interval over seeds; star: the value the selection rule picked on the "
            "held-out selection split.")
    footnote(fig, foot, 120)
    fig.tight_layout(rect=(0, 0.08, 1, 0.92))
    record["not_run"] = [r.run_id for r in runs if not r.has_metrics]
    n_ok = sum(r.has_metrics for r in runs)
    caption = (f"Final eval pass@1 against the swept {arg}, one line per method. Drawn from {n_ok} of {len(runs)} "
               f"runs. {foot}")
    return FigureResult(fig=fig, record=record, caption=caption)


def sweep_summary(settings: Sequence[SweepSetting]) -> list[dict]:
    """The selections as records (for REPORT.claims.json)."""
    return [{"experiment": s.experiment, "setting": s.setting, "arg": s.arg, "select": s.select,
             "problems": s.problems, "flags": s.flags,
             "arms": {a: {"selected": sel.selected, "unswept": sel.default, "edge": sel.edge,
                          "scores": {_fmt_value(v): {"mean": m, "seeds": n} for v, (m, n) in sel.scores.items()}}
                      for a, sel in s.arms.items()}} for s in settings]



def sweep_answer(settings: Sequence[SweepSetting]) -> str:
    """Lines for REPORT.md's answer: each method's picked value beside the value its unswept runs use, and the
    flags (picks at the edge of the range, picks judged on the seeds that chose them)."""
    out = []
    for s in settings:
        for arm, sel in s.arms.items():
            if sel.selected is None:
                continue
            same = sel.default is not None and float(sel.default) == float(sel.selected)
            use = ("the unswept runs use it too" if same else
                   f"the unswept runs (the config's main runs) use {_fmt_value(sel.default)}, not the pick")
            edge = "; at the edge of the swept range" if sel.edge else ""
            out.append(f"- Sweep {s.setting}: {arm_label(arm)} picked {s.arg}={_fmt_value(sel.selected)}; {use}{edge}.")
        if s.pick_seeds is None:
            out.append(f"- Sweep {s.setting}: the picks were judged on the seeds that chose them (optimistic).")
    return "\n".join(out)
