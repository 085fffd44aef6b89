"""REPORT.md: each claim of the paper beside what the runs measured, the rules behind the verdicts, the tables."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gift.files import git_commit
from gift.report.inputs import Run
from gift.report.stats import INTERVAL_METHOD
from gift.report.table_render import table_markdown
from gift.report.tables import ReproducedTable
from gift.report.verdicts import (
    AGGREGATION_RULE,
    COUNTED,
    NO_VERDICT,
    NOT_MEASURED,
    SETTING_RULE,
    TAIL_TEXT,
    ClaimResult,
)

VERDICT_MARK = {"supported": "**supported**", "contradicted": "**contradicted**", "inconclusive": "inconclusive",
                "no verdict": "no verdict", "not measured": "*not measured*"}

SMOKE_WARNING = ("> **This is a smoke-sized config: it checks the plumbing, not the claims.** Its models are tiny, "
                 "its data synthetic and its runs a few steps long; the verdicts below show that every rule runs, "
                 "not what GIFT does.")

# The claim whose settings answer "does GIFT beat GRPO?": the final eval pass@1 (C7).
ANSWER_CLAIM = "C7"


def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _fmt(v: object) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float):
        if float(v).is_integer():
            return str(int(v))
        if v == float("inf"):
            return "never"
        return f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.2f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return "—" if v is None else str(v)


def _counts(c: ClaimResult) -> str:
    if c.verdict == NOT_MEASURED:
        return "—"
    return ", ".join(f"{n} {v}" for v, n in c.counts.items() if n) or "—"


def _visible(d: dict) -> list[str]:
    return [k for k in d if k != "measured" and not k.startswith("_")]


def claims_markdown(claims: Sequence[ClaimResult], calibration_md: str = "") -> str:
    """The claims table and, under it, the paper's words and rule of every claim and its per-setting numbers.

    Claims the config cannot measure are left out here (the report lists them once, at its end).
    """
    claims = [c for c in claims if c.verdict != NOT_MEASURED]
    out = ["| | Claim of the paper | Where the paper shows it | What the runs measured | Settings | Verdict |",
           "| --- | --- | --- | --- | --- | --- |"]
    for c in claims:
        out.append(f"| {c.cid} | {_md(c.claim)} | {_md(c.paper)} | {_md(c.measured)} | {_counts(c)} | "
                   f"{VERDICT_MARK[c.verdict]} |")
    out += ["", "### Rules", "", f"- {TAIL_TEXT}", f"- {SETTING_RULE}", f"- {AGGREGATION_RULE}",
            f"- Intervals: {INTERVAL_METHOD}",
            "- Detectable (80% power): the smallest true difference that a rerun with the same seeds, at the seed "
            "spread measured here, would call decisive 80% of the time, at the level Holm's first step asks of a "
            "setting in its family (5% / settings); simulated through the Welch test, estimated spread included.",
            ""]
    if calibration_md:
        out += [calibration_md, ""]
    for c in claims:
        words = (f"The paper: {c.quote}. " if c.quote
                 else "No sentence of the paper is quoted for this claim; the rule reads the figure. ")
        out.append(f"- **{c.cid}** ({_md(c.claim)}). {words}Rule: {c.rule}")
    out += ["", "### Measurements per setting", ""]
    for c in claims:
        out.append(f"**{c.cid}. {c.claim}** — {VERDICT_MARK[c.verdict]} ({_counts(c)})")
        out.append("")
        if not c.details:
            out += [f"No setting had what the rule needs ({c.measured}).", ""]
            continue
        keys = list(dict.fromkeys(k for d in c.details for k in _visible(d)))
        out.append("| " + " | ".join(_md(k) for k in keys) + " |")
        out.append("|" + " --- |" * len(keys))
        for d in c.details:
            out.append("| " + " | ".join(_md(_fmt(d.get(k))) for k in keys) + " |")
        out.append("")
    return "\n".join(out) + "\n"


def _answer_line(setting: str, t, d: dict, family: int = 1) -> str:
    """One setting of the answer: GIFT − GRPO with its interval and verdict, the seeds, what would decide it."""
    seeds = " vs ".join(str(n) for n in t.counts) if t.counts else "?"
    verdict = d.get("verdict", NO_VERDICT)
    head = f"- **{_md(setting)}** ({seeds} seeds, GIFT vs GRPO): GIFT − GRPO {t.text('points')}: {VERDICT_MARK[verdict]}"
    if t.interval is None or t.p is None:
        return (f"{head}. 1 seed: no verdict; at least 2 seeds per method give the seed spread a verdict needs "
                "(3 or more for a useful interval).")
    if verdict in ("supported", "contradicted"):
        return f"{head} (Holm-adjusted p = {d.get('Holm p'):.3g})."
    mdd = d.get("detectable (80% power)")
    more = t.seeds_for_power(family)
    need = (f"the observed {t.estimate:+.2f} would be detected with 80% power at about {more} seeds per method"
            if more else "the observed difference would not be detected with 200 seeds per method or fewer")
    mdd_text = "" if mdd is None else (f"Decisive at this seed spread, with 80% power, for a true difference of "
                                       f"{mdd:.2f} points or more; ")
    return f"{head}. {mdd_text}{need}."


def answer_markdown(claims: Sequence[ClaimResult], smoke: bool = False, sweep_md: str = "") -> str:
    """The Answer section: per measured setting, GIFT − GRPO of the final eval pass@1 with its verdict, and the
    sweeps' picks beside the values the main runs use."""
    out = ["## Answer", ""]
    if smoke:
        out += [SMOKE_WARNING, ""]
    c = next((c for c in claims if c.cid == ANSWER_CLAIM), None)
    if c is None or not c.details:
        if sweep_md:  # a sweep-only config: its comparisons are made at each method's picked value
            out += ["Does GIFT beat GRPO? This config compares the methods at their swept values: GIFT − GRPO at "
                    "each method's picked value, with its interval and verdict, is in the section Sweeps (\"Claims at "
                    "the selected values\"), beside the same comparison at the config's unswept values.", "",
                    sweep_md, ""]
        else:
            out += ["Does GIFT beat GRPO? No setting of this config has finished GIFT and GRPO runs to compare yet.",
                    ""]
        return "\n".join(out) + "\n"
    out += [f"Does GIFT beat GRPO? GIFT − GRPO of the final eval pass@1 per setting ({c.cid}), with its 95% interval "
            f"over seeds; a claim's settings are judged together (Holm). Claim verdict: {VERDICT_MARK[c.verdict]}.", ""]
    family = sum(d.get("Holm p") is not None for d in c.details)
    for d in c.details:
        t = c.assessments.get(d["setting"])
        if t is not None:
            out.append(_answer_line(d["setting"], t, d, family))
    if sweep_md:
        out += ["", "Learning rates and other swept values (section Sweeps):", "", sweep_md]
    return "\n".join(out) + "\n"


def calibration_markdown(rows: Sequence[dict]) -> str:
    """The calibration the report measured at its own seed counts (gift.report.calibrate)."""
    if not rows:
        return ""
    out = ["### Calibration of the verdict rule, measured", "",
           "Null simulations through this report's code (`gift report calibrate`): two methods with no true "
           "difference, at the seed counts and family sizes of this report's settings, evaluation noise 0.3 × the "
           "seed spread. Nominal false-decisive rate: 5%.", "",
           "| seeds per method | settings in the family | simulated claims | decisive with no effect | Monte Carlo SE |",
           "| --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['seeds']} | {r['settings']} | {r['sims']} | {r['false_decisive_rate']:.1%} | "
                   f"{r['false_decisive_mc_se']:.1%} |")
    return "\n".join(out) + "\n"


def measure_calibration(claims: Sequence[ClaimResult], sims: int = 2000) -> list[dict]:
    """Calibrate the rule at each (seeds, settings) pair the claims' settings use."""
    from gift.report.calibrate import calibrate

    pairs = set()
    for c in claims:
        counts = [min(t.counts) for t in c.assessments.values() if t.counts]
        if counts:
            pairs.add((min(counts), len(c.details)))
    return [calibrate(k, sims, eval_se=0.3, settings=m) for k, m in sorted(pairs)]


def runs_markdown(runs: Sequence[Run], out_dir: Path, results: str | None = None) -> str:
    """Each run's status and links to its log, metrics and run config."""
    out = ["| run | status | log | metrics | config |", "| --- | --- | --- | --- | --- |"]
    for r in sorted(runs, key=lambda r: r.run_id):
        run_dir = Path(r.path or r.entry.get("run_dir") or "")
        status = "done" if r.done else "running or stopped" if r.has_metrics else "not run"

        def link(p: Path, text: str) -> str:
            return f"[{text}]({_rel(p, out_dir)})" if p.exists() else "—"

        config = Path(results) / "run_configs" / f"{r.run_id}.yaml" if results else Path("/nonexistent")
        out.append(f"| {_md(r.run_id)} | {status} | {link(run_dir / 'train.log', 'train.log')} | "
                   f"{link(run_dir / 'metrics.jsonl', 'metrics.jsonl')} | {link(config, 'run config')} |")
    return "\n".join(out) + "\n"


def claims_rst(claims: Sequence[ClaimResult], config_name: str) -> str:
    """The claims as an rst list-table, for the Snakemake HTML report (no Jinja braces)."""
    def cell(s: str) -> str:
        return str(s).replace("{", "(").replace("}", ")").replace("\n", " ").replace("*", "\\*")

    lines = [f"Claims of the paper beside what the runs of config '{cell(config_name)}' measured.", "",
             ".. list-table::", "   :header-rows: 1", "",
             "   * - Claim", "     - Measured", "     - Verdict", "     - Rule"]
    for c in claims:
        lines += [f"   * - {c.cid}: {cell(c.claim)}", f"     - {cell(c.measured)}", f"     - {c.verdict}",
                  f"     - {cell(c.rule)}"]
    lines += ["", cell(SETTING_RULE), "", cell(AGGREGATION_RULE), ""]
    return "\n".join(lines)


def _rel(path: str | os.PathLike, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve()).replace(os.sep, "/")


def report_markdown(config_name: str, claims: Sequence[ClaimResult], tables: Sequence[ReproducedTable],
                    runs: Sequence[Run], missing: Sequence[dict], out_dir: Path,
                    figures: Sequence[str | os.PathLike] = (), table1_md: str | None = None,
                    n_eval_files: int = 0, extra_md: str = "", slowest_jobs_md: str | None = None,
                    smoke: bool = False, calibration: Sequence[dict] = (), results: str | None = None,
                    sweep_answer_md: str = "") -> str:
    """The whole REPORT.md; figure paths are linked relative to `out_dir` (where REPORT.md is written).

    It opens with the Answer (and, for a smoke-sized config, the warning that it checks the plumbing);
    `extra_md` (the sweeps' section) follows the claims; `slowest_jobs_md` (the jobs' benchmarks) ends it.
    """
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_ok = sum(r.has_metrics for r in runs)
    measured = [c for c in claims if c.verdict != NOT_MEASURED]
    counts = {v: sum(c.verdict == v for c in measured) for v in COUNTED}
    out = [f"# GIFT reproduction report: config `{config_name}`", "",
           f"Generated {now} at commit `{git_commit() or 'unknown'}` from {n_ok} of {len(runs)} training runs "
           f"with metrics and {n_eval_files} evaluation result files. Verdicts of the {len(measured)} claims this "
           f"config measured: " + (", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none") + ".", "",
           answer_markdown(claims, smoke=smoke, sweep_md=sweep_answer_md),
           "## The paper's claims beside the measurements", "", claims_markdown(claims, calibration_markdown(calibration))]
    if extra_md:
        out += [extra_md]
    if tables:
        names = " and ".join(rt.table.name.replace("table", "") for rt in tables)
        out += [f"## Table{'s' if len(tables) > 1 else ''} {names}: the paper's numbers beside the reproduced ones", ""]
    for rt in tables:
        out += [f"### {rt.title}", "", table_markdown(rt)]
    if table1_md:
        out += ["## Table 1: the methods compared", "", table1_md]
    if figures:
        out += ["## Figures", ""]
        for f in figures:
            p = Path(f)
            cap = p.with_suffix(".rst")
            text = cap.read_text(encoding="utf-8").strip() if cap.exists() else ""
            status = "" if p.exists() else " (not produced)"
            out += [f"### {p.stem}{status}", "", f"![{p.stem}]({_rel(p, out_dir)})", "", text, ""]
    out += ["## Not run", ""]
    if missing:
        out.append("Grid entries with no result; their places in the figures and tables read 'not run':")
        out.append("")
        out += [f"- {e.get('run_id') or e.get('model_id')}: {e.get('what', 'no metrics')}" for e in missing]
    else:
        out.append("Every run and evaluation of the grid has a result.")
    out += ["", "## Runs", "", runs_markdown([r for r in runs if r.run_id], out_dir, results)]
    unmeasured = [c for c in claims if c.verdict == NOT_MEASURED]
    if unmeasured:
        out += ["## Claims this config cannot measure", "",
                "Listed once, out of the counts above: the config has no runs of the kind these rules need.", ""]
        out += [f"- {c.cid} ({_md(c.claim)}; {_md(c.paper)}): {_md(c.measured)}" for c in unmeasured]
    if slowest_jobs_md:
        out += ["", "## Slowest jobs", "", "From the jobs' benchmark files, for those that finished before this report.",
                "", slowest_jobs_md]
    return "\n".join(out) + "\n"
