"""Tables 2 and 3: the paper's values beside the reproduced ones (Table 1 is `gift.report.table1`)."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gift.report import provenance as prov
from gift.report.inputs import EvalResult, entry_figures, figure_id
from gift.report.paper_values import PaperColumn, PaperTable, PaperValue
from gift.report.stats import mean_sd

log = logging.getLogger("gift.report")

NOT_RUN = "not run"
NO_VALUE = "no value"
PAPER_SECTION = "paper"
OTHER_SECTION = "no paper counterpart"
DEFAULT_TOLERANCE_POINTS = 2.0
DEFAULT_TOLERANCE_LENGTH_REL = 0.10

# ----------------------------------------------------------------------------------------- Tables 2 and 3


@dataclass
class Measurement:
    """One model's value of one metric, and the file it came from."""

    model_id: str
    seed: Any
    value: float | None
    file: str
    eval: str
    stderr: float | None = None
    n_items: int | None = None
    approx: bool = False  # the evaluator marked the value an approximation (AlpacaEval LC without df_gamed.csv)


@dataclass
class Cell:
    """One (row, column) of a reproduced table."""

    row: str
    column: PaperColumn
    section: str
    paper: PaperValue | None
    measurements: list[Measurement] = field(default_factory=list)
    mean: float | None = None
    sd: float | None = None
    n: int = 0
    delta: float | None = None
    tolerance: float | None = None
    within: bool | None = None
    status: str = NOT_RUN

    @property
    def decimals(self) -> int:
        """Decimals shown: none for lengths in characters, two for percentages."""
        return 0 if self.column.unit == "chars" else 2


@dataclass
class RowInfo:
    """A table row: its label, section, and the model ids (seeds) that reproduce it."""

    label: str
    section: str
    model_ids: list[str]
    seeds: list[Any]


@dataclass
class ReproducedTable:
    """A paper table with the reproduced values of every row the grid evaluated."""

    table: PaperTable
    config_name: str
    tolerance_points: float
    tolerance_length_rel: float
    rows: list[RowInfo]
    cells: dict[tuple[str, str], Cell]
    inputs: list[str]
    absent_files: list[str]
    judging: list[dict] = field(default_factory=list)  # per row and judged evaluation: judge, prompts, LC

    def cell(self, row: str, column: str) -> Cell:
        """The cell of a row label and a column key."""
        return self.cells[(row, column)]

    def rows_in(self, section: str) -> list[RowInfo]:
        """The rows of one section (paper rows, or rows with no paper counterpart), in order."""
        return [r for r in self.rows if r.section == section]


def tolerance_for(column: PaperColumn, paper_value: float, tolerance_points: float, tolerance_length_rel: float) -> float:
    """The allowed |reproduced - paper|: points for percentages, a share of the paper's value for lengths."""
    if column.unit == "chars":
        return tolerance_length_rel * abs(paper_value)
    return tolerance_points


def _eval_index(evals: Sequence[EvalResult]) -> dict[str, dict[str, tuple[dict, EvalResult]]]:
    index: dict[str, dict[str, tuple[dict, EvalResult]]] = {}
    for ev in evals:
        per_model = index.setdefault(ev.model, {})
        for key, metric in ev.metrics.items():
            if key in per_model:
                log.warning("model %s: metric %s in both %s and %s; keeping the first", ev.model, key,
                            per_model[key][1].path, ev.path)
                continue
            per_model[key] = (metric, ev)
    return index


def build_reproduced_table(table: PaperTable, grid: list[dict], evals: Sequence[EvalResult],
                           config_name: str, tolerance_points: float = DEFAULT_TOLERANCE_POINTS,
                           tolerance_length_rel: float = DEFAULT_TOLERANCE_LENGTH_REL,
                           absent_files: Sequence[str] = ()) -> ReproducedTable:
    """Every paper row (reproduced or 'not run') and every grid model without a paper row that this table's
    evaluations scored, with mean ± sd over seeds, Δ against the paper and the tolerance verdict.

    Raises ValueError naming the grid entry whose `paper_row` is not a row of the paper table.
    """
    index = _eval_index(evals)
    col_keys = [c.key for c in table.columns]
    rows: dict[str, RowInfo] = {r: RowInfo(r, PAPER_SECTION, [], []) for r in table.rows}
    others: dict[str, RowInfo] = {}
    for e in grid:
        mid = e.get("model_id")
        if not mid:
            continue
        paper_row = e.get("paper_row")
        if paper_row is not None:
            if paper_row not in rows:
                raise ValueError(f"grid entry {mid!r}: paper_row {paper_row!r} is not a row of {table.name} "
                                 f"({', '.join(table.rows)})")
            info = rows[paper_row]
        else:
            in_table = (table.name in (e.get("tables") or []) or figure_id(table.name) in entry_figures(e)
                        or any(k in index.get(mid, {}) for k in col_keys))
            if not in_table:
                continue
            label = str(e.get("model_label") or mid)
            if label in rows:
                raise ValueError(f"grid entry {mid!r}: model_label {label!r} names a paper row but paper_row is null")
            info = others.setdefault(label, RowInfo(label, OTHER_SECTION, [], []))
        if mid not in info.model_ids:
            info.model_ids.append(mid)
            info.seeds.append(e.get("seed"))
    row_list = list(rows.values()) + [others[k] for k in sorted(others)]

    cells: dict[tuple[str, str], Cell] = {}
    for info in row_list:
        for col in table.columns:
            paper = table.value(info.label, col.key) if info.section == PAPER_SECTION else None
            cell = Cell(row=info.label, column=col, section=info.section, paper=paper)
            for mid, seed in zip(info.model_ids, info.seeds, strict=True):
                hit = index.get(mid, {}).get(col.key)
                if hit is None:
                    continue
                metric, ev = hit
                cell.measurements.append(Measurement(
                    model_id=mid, seed=seed, value=None if metric["value"] is None else float(metric["value"]),
                    file=str(ev.path), eval=ev.eval, stderr=metric.get("stderr"), n_items=metric.get("n"),
                    approx=bool(metric.get("approx"))))
            values = [m.value for m in cell.measurements if m.value is not None]
            cell.mean, cell.sd, cell.n = mean_sd(values)
            if cell.n:
                cell.status = "measured"
            elif cell.measurements:
                cell.status = NO_VALUE
            if paper is not None and cell.mean is not None:
                cell.delta = cell.mean - paper.value
                cell.tolerance = tolerance_for(col, paper.value, tolerance_points, tolerance_length_rel)
                cell.within = abs(cell.delta) <= cell.tolerance + 1e-12
            cells[(info.label, col.key)] = cell
    return ReproducedTable(table=table, config_name=config_name, tolerance_points=tolerance_points,
                           tolerance_length_rel=tolerance_length_rel, rows=row_list, cells=cells,
                           inputs=[str(e.path) for e in evals], absent_files=list(absent_files),
                           judging=judging_records(row_list, evals, col_keys))


def judging_records(rows: Sequence[RowInfo], evals: Sequence[EvalResult], col_keys: Sequence[str]) -> list[dict]:
    """For each row and each judged evaluation behind its cells: the judge, the paper's judge, the prompts."""
    out = []
    for info in rows:
        for ev in evals:
            if ev.model not in info.model_ids or "judge" not in ev.details or not set(ev.metrics) & set(col_keys):
                continue
            d = ev.details
            prompts = d.get("judge_prompts") if isinstance(d.get("judge_prompts"), dict) else None
            out.append({"row": info.label, "model_id": ev.model, "eval": ev.eval, "judge": d.get("judge"),
                        "paper_judge": d.get("paper_judge"), "judge_is_paper_judge": d.get("judge_is_paper_judge"),
                        "judge_prompts": prompts, "lc_exact": d.get("lc_exact"), "file": str(ev.path)})
    return out


def _prompts_str(prompts: dict | None) -> str:
    if not prompts:
        return "—"
    if prompts.get("source") == "official":
        return f"official ({prompts.get('repo')} {str(prompts.get('commit'))[:10]}), sha256 {str(prompts.get('sha256'))[:12]}"
    if prompts.get("source") == "suite":
        return f"the suite's own wording, sha256 {str(prompts.get('sha256'))[:12]}"
    return str(prompts.get("note") or prompts.get("source"))


def judging_markdown(rt: ReproducedTable) -> list[str]:
    """Which judge and which prompts scored each row, and a warning where the judge is not the paper's."""
    if not rt.judging:
        return []
    out = ["", "*Judges: which judge and which judge prompts scored each row*", "",
           "| Row | Evaluation | Judge | The paper's judge | Judge prompts | LC win rate |", "| --- |" + " --- |" * 5]
    for j in rt.judging:
        same = j.get("judge_is_paper_judge")
        paper = j.get("paper_judge") or "—"
        mark = "" if same is None else (" (same)" if same else " (**differs**)")
        lc = "" if j.get("lc_exact") is None else ("leaderboard's" if j["lc_exact"] else "approx.")
        out.append(f"| {_md_escape(j['row'])} | {j['eval']} | {_md_escape(str(j.get('judge')))} | "
                   f"{_md_escape(paper)}{mark} | {_md_escape(_prompts_str(j.get('judge_prompts')))} | {lc} |")
    differ = sorted({(j["eval"], str(j.get("judge")), str(j.get("paper_judge"))) for j in rt.judging
                     if j.get("judge_is_paper_judge") is False})
    for ev, judge, paper in differ:
        out += ["", f"**{ev}: judged by {_md_escape(judge)}, not the paper's judge ({_md_escape(paper)}). Numbers "
                    "from another judge are not comparable with the paper's.**"]
    if any(j.get("lc_exact") is False for j in rt.judging):
        out += ["", "LC (approx.): without alpaca_eval's df_gamed.csv (instruction difficulties, length-gamed "
                    "baselines) the LC win rate is the same GLM without them, not the leaderboard's number."]
    return out


def column_label(rt: ReproducedTable, column: PaperColumn) -> str:
    """The column's label, with '(approx.)' when any of its values is an approximation."""
    approx = any(m.approx for (_, key), c in rt.cells.items() if key == column.key for m in c.measurements)
    return f"{column.label} (approx.)" if approx else column.label


def _num(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}"


def _signed(v: float, decimals: int) -> str:
    return f"{v:+.{decimals}f}"


def _paper_str(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) >= 100 else repr(float(v))


def reproduced_str(cell: Cell, pm: str = "±") -> str:
    """'66.10 ± 0.40 (n=3)', '66.10 (n=1)', or the cell's status ('not run', 'no value')."""
    if cell.mean is None:
        return cell.status
    d = cell.decimals
    if cell.sd is None:
        return f"{_num(cell.mean, d)} (n={cell.n})"
    return f"{_num(cell.mean, d)} {pm} {_num(cell.sd, d)} (n={cell.n})"


def table_caption(rt: ReproducedTable) -> str:
    """The caption stating what each cell shows and the tolerance."""
    return (f"{rt.table.title}, config '{rt.config_name}'. Each cell: the paper's value · the reproduced "
            f"mean ± sample sd over seeds (n models) · Δ = reproduced − paper · ✓ if |Δ| is within the "
            f"tolerance, ✗ if not. Tolerance: ±{rt.tolerance_points:g} points for percentages, "
            f"±{rt.tolerance_length_rel * 100:g}% of the paper's value for lengths (characters). "
            f"'{NOT_RUN}' marks a result the run did not produce (never 0). Rows labelled "
            f"'{OTHER_SECTION}' are smoke/tiny models with no row in the paper and are never compared with it.")


def table_csv(rt: ReproducedTable) -> str:
    """Long format: one line per (row, column), every field of the cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "section", "row", "column", "label", "unit", "paper", "paper_source", "reproduced",
                "mean", "sd", "n", "delta", "tolerance", "within_tolerance", "status", "model_ids", "files"])
    for info in rt.rows:
        for col in rt.table.columns:
            c = rt.cell(info.label, col.key)
            src = c.paper.source if c.paper else None
            w.writerow([
                rt.table.name, c.section, c.row, col.key, column_label(rt, col), col.unit,
                "" if c.paper is None else _paper_str(c.paper.value),
                "" if src is None else f"Table {src.get('table')}, row {src.get('row')}, column {src.get('column')}",
                reproduced_str(c), "" if c.mean is None else repr(c.mean), "" if c.sd is None else repr(c.sd), c.n,
                "" if c.delta is None else repr(c.delta), "" if c.tolerance is None else repr(c.tolerance),
                "" if c.within is None else ("yes" if c.within else "no"), c.status,
                ";".join(m.model_id for m in c.measurements), ";".join(prov.files_of(_cell_record(c)))])
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                "±": r"$\pm$", "Δ": r"$\Delta$", "−": "-", "✓": r"\checkmark", "✗": r"\texttimes",
                "·": r"$\cdot$", "β": r"$\beta$"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX_SPECIAL))


def _tex_escape(s: str) -> str:
    return _TEX_RE.sub(lambda m: _TEX_SPECIAL[m.group(0)], s)


def _md_cell(c: Cell) -> str:
    rep = reproduced_str(c)
    if c.section != PAPER_SECTION:
        return rep
    parts = [_paper_str(c.paper.value) if c.paper else "—", rep]
    if c.delta is not None:
        parts.append(f"Δ {_signed(c.delta, c.decimals)} {'✓' if c.within else '✗'}")
    return " · ".join(parts)


def table_markdown(rt: ReproducedTable) -> str:
    """Two Markdown tables: rows that reproduce the paper's, then rows with no paper counterpart."""
    head = "| Model | " + " | ".join(f"{column_label(rt, c)} ({c.unit})" for c in rt.table.columns) + " |"
    rule = "| --- |" + " --- |" * len(rt.table.columns)
    out = [f"**{table_caption(rt)}**", "", "*Rows of the paper (cell: paper · reproduced · Δ and mark)*", "",
           head, rule]
    for info in rt.rows_in(PAPER_SECTION):
        out.append(f"| {_md_escape(info.label)} | " + " | ".join(
            _md_escape(_md_cell(rt.cell(info.label, c.key))) for c in rt.table.columns) + " |")
    others = rt.rows_in(OTHER_SECTION)
    out += ["", "*Rows with no paper counterpart (smoke/tiny models; cell: reproduced only)*", ""]
    if others:
        out += [head, rule]
        for info in others:
            out.append(f"| {_md_escape(info.label)} | " + " | ".join(
                _md_escape(_md_cell(rt.cell(info.label, c.key))) for c in rt.table.columns) + " |")
    else:
        out.append("(none)")
    summary = within_summary(rt)
    out += ["", f"Within tolerance: {summary['within']} of {summary['measured']} measured paper cells "
                f"({summary['not_run']} of {summary['total']} paper cells not run)."]
    out += judging_markdown(rt)
    return "\n".join(out) + "\n"


def within_summary(rt: ReproducedTable) -> dict[str, int]:
    """Counts over the paper rows: cells measured, within tolerance, and not run."""
    paper_cells = [c for c in rt.cells.values() if c.section == PAPER_SECTION]
    return {"total": len(paper_cells), "measured": sum(c.mean is not None for c in paper_cells),
            "within": sum(bool(c.within) for c in paper_cells),
            "not_run": sum(c.mean is None for c in paper_cells)}


def _tex_cell(c: Cell) -> str:
    rep = _tex_escape(reproduced_str(c))
    if c.section != PAPER_SECTION:
        return rep
    lines = [_paper_str(c.paper.value) if c.paper else "--", rep]
    if c.delta is not None:
        lines.append(f"${_signed(c.delta, c.decimals)}$ " + (r"\checkmark" if c.within else r"\texttimes"))
    return r"\shortstack{" + r" \\ ".join(lines) + "}"


def table_latex(rt: ReproducedTable) -> str:
    """LaTeX (booktabs, amssymb): the paper rows, then a separate table of rows with no paper counterpart."""
    ncol = len(rt.table.columns)
    head = "Model & " + " & ".join(f"{_tex_escape(column_label(rt, c))} ({_tex_escape(c.unit)})"
                                  for c in rt.table.columns) + r" \\"
    label = rt.table.name.replace(" ", "")

    def block(rows: list[RowInfo], caption: str, tag: str) -> list[str]:
        lines = [r"\begin{table}[t]", r"\centering", r"\resizebox{\textwidth}{!}{%",
                 r"\begin{tabular}{l" + "c" * ncol + "}", r"\toprule", head, r"\midrule"]
        for info in rows:
            lines.append(_tex_escape(info.label) + " & " + " & ".join(
                _tex_cell(rt.cell(info.label, c.key)) for c in rt.table.columns) + r" \\[2pt]")
        lines += [r"\bottomrule", r"\end{tabular}}", r"\caption{" + _tex_escape(caption) + "}",
                  r"\label{tab:" + label + tag + "}", r"\end{table}"]
        return lines

    out = ["% needs \\usepackage{booktabs,amssymb,graphicx}"]
    out += block(rt.rows_in(PAPER_SECTION), table_caption(rt), "")
    others = rt.rows_in(OTHER_SECTION)
    if others:
        out.append("")
        out += block(others, f"{rt.table.title}: rows with no paper counterpart (smoke/tiny models), "
                             f"config '{rt.config_name}'; reproduced mean ± sd over seeds (n).", "-other")
    return "\n".join(out) + "\n"


def _cell_record(c: Cell) -> dict:
    return {
        "row": c.row, "column": c.column.key, "section": c.section, "status": c.status,
        "paper": None if c.paper is None else c.paper.value,
        "paper_source": None if c.paper is None else c.paper.source,
        "mean": c.mean, "sd": c.sd, "n": c.n, "delta": c.delta, "tolerance": c.tolerance, "within": c.within,
        "measurements": [dataclasses.asdict(m) for m in c.measurements],
    }


def table_provenance(rt: ReproducedTable) -> dict:
    """The record written beside a table: every cell's values with the model id, seed and file of each."""
    doc = prov.header(rt.config_name, "table", rt.table.name, rt.inputs)
    doc.update({
        "absent_inputs": rt.absent_files,
        "judging": rt.judging,
        "tolerance_points": rt.tolerance_points,
        "tolerance_length_rel": rt.tolerance_length_rel,
        "rows": [dataclasses.asdict(r) for r in rt.rows],
        "cells": [_cell_record(rt.cell(info.label, c.key)) for info in rt.rows for c in rt.table.columns],
    })
    return doc


def table_rst_caption(rt: ReproducedTable) -> str:
    """A caption for the Snakemake HTML report."""
    s = within_summary(rt)
    return (f"{table_caption(rt)}\n\nWithin tolerance: {s['within']} of {s['measured']} measured paper cells; "
            f"{s['not_run']} of {s['total']} paper cells not run. Every reproduced number is traced to its "
            f"result files in the table's ``.provenance.json``.\n")
