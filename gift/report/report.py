"""REPORT.md: each claim of the paper beside what the runs measured, the rules behind the verdicts, the tables."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gift.io import git_commit
from gift.report.inputs import Run
from gift.report.stats import INTERVAL_METHOD
from gift.report.table_render import table_markdown
from gift.report.tables import ReproducedTable
from gift.report.verdicts import AGGREGATION_RULE, SETTING_RULE, TAIL_TEXT, VERDICTS, ClaimResult

VERDICT_MARK = {"supported": "**supported**", "contradicted": "**contradicted**", "inconclusive": "inconclusive",
                "not measured": "*not measured*"}


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
    if c.verdict == "not measured":
        return "—"
    return ", ".join(f"{n} {v}" for v, n in c.counts.items())


def claims_markdown(claims: Sequence[ClaimResult]) -> str:
    """The claims table and, under it, the paper's words and rule of every claim and its per-setting numbers."""
    out = ["| | Claim of the paper | Where the paper shows it | What the runs measured | Settings | Verdict |",
           "| --- | --- | --- | --- | --- | --- |"]
    for c in claims:
        out.append(f"| {c.cid} | {_md(c.claim)} | {_md(c.paper)} | {_md(c.measured)} | {_counts(c)} | "
                   f"{VERDICT_MARK[c.verdict]} |")
    out += ["", "### Rules", "", f"- {TAIL_TEXT}", f"- {SETTING_RULE}", f"- {AGGREGATION_RULE}",
            f"- Intervals: {INTERVAL_METHOD}", ""]
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
        keys = [k for k in dict.fromkeys(k for d in c.details for k in d) if k != "measured"]
        out.append("| " + " | ".join(_md(k) for k in keys) + " |")
        out.append("|" + " --- |" * len(keys))
        for d in c.details:
            out.append("| " + " | ".join(_md(_fmt(d.get(k))) for k in keys) + " |")
        out.append("")
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
                    n_eval_files: int = 0, extra_md: str = "", slowest_jobs_md: str | None = None) -> str:
    """The whole REPORT.md; figure paths are linked relative to `out_dir` (where REPORT.md is written).

    `extra_md` (the sweeps' section) follows the claims; `slowest_jobs_md` (the jobs' benchmarks) ends it.
    """
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_ok = sum(r.has_metrics for r in runs)
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    out = [f"# GIFT reproduction report: config `{config_name}`", "",
           f"Generated {now} at commit `{git_commit() or 'unknown'}` from {n_ok} of {len(runs)} training runs "
           f"with metrics and {n_eval_files} evaluation result files. Verdicts: "
           + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "",
           "## The paper's claims beside the measurements", "", claims_markdown(claims)]
    if extra_md:
        out += [extra_md]
    if tables:
        names = " and ".join(rt.table.name.replace("table", "") for rt in tables)
        out += [f"## Table{'s' if len(tables) > 1 else ''} {names}: the paper's numbers beside the reproduced ones", ""]
    for rt in tables:
        out += [f"### {rt.table.title}", "", table_markdown(rt)]
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
    if slowest_jobs_md:
        out += ["", "## Slowest jobs", "", "From the jobs' benchmark files, for those that finished before this report.",
                "", slowest_jobs_md]
    return "\n".join(out) + "\n"
