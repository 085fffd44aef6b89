"""Tables 2 and 3 written out: Markdown (with the judges behind each row), LaTeX, CSV and the report caption."""

from __future__ import annotations

import csv
import io
import re

from gift.report import provenance as prov
from gift.report.paper_values import PaperColumn
from gift.report.tables import (
    NOT_RUN,
    OTHER_SECTION,
    PAPER_SECTION,
    Cell,
    ReproducedTable,
    RowInfo,
    cell_record,
    within_summary,
)


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
        out.append(f"| {md_escape(j['row'])} | {j['eval']} | {md_escape(str(j.get('judge')))} | "
                   f"{md_escape(paper)}{mark} | {md_escape(_prompts_str(j.get('judge_prompts')))} | {lc} |")
    differ = sorted({(j["eval"], str(j.get("judge")), str(j.get("paper_judge"))) for j in rt.judging
                     if j.get("judge_is_paper_judge") is False})
    for ev, judge, paper in differ:
        out += ["", f"**{ev}: judged by {md_escape(judge)}, not the paper's judge ({md_escape(paper)}). Numbers "
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
    return (f"{rt.title}, config '{rt.config_name}'. Each cell: the paper's value · the reproduced "
            f"mean ± sample sd over seeds (n models) · Δ = reproduced − paper · ✓ if |Δ| is within the "
            f"tolerance, ✗ if not. Tolerance: ±{rt.tolerance_points:g} points for percentages, "
            f"±{rt.tolerance_length_rel * 100:g}% of the paper's value for lengths (characters). "
            f"'{NOT_RUN}' marks a result the run did not produce (never 0). Rows labelled "
            f"'{OTHER_SECTION}' are this config's {rt.other_rows}: no row of the paper, never compared with it.")


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
                ";".join(m.model_id for m in c.measurements), ";".join(prov.files_of(cell_record(c)))])
    return buf.getvalue()


def md_escape(s: str) -> str:
    """Text safe inside a Markdown table cell."""
    return s.replace("|", "\\|")


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                "±": r"$\pm$", "Δ": r"$\Delta$", "−": "-", "✓": r"\checkmark", "✗": r"\texttimes",
                "·": r"$\cdot$", "β": r"$\beta$"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX_SPECIAL))


def tex_escape(s: str) -> str:
    """Text safe in LaTeX, with the report's symbols (±, Δ, ✓, ...) as LaTeX commands."""
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
        out.append(f"| {md_escape(info.label)} | " + " | ".join(
            md_escape(_md_cell(rt.cell(info.label, c.key))) for c in rt.table.columns) + " |")
    others = rt.rows_in(OTHER_SECTION)
    out += ["", f"*Rows with no paper counterpart ({md_escape(rt.other_rows)}; cell: reproduced only)*", ""]
    if others:
        out += [head, rule]
        for info in others:
            out.append(f"| {md_escape(info.label)} | " + " | ".join(
                md_escape(_md_cell(rt.cell(info.label, c.key))) for c in rt.table.columns) + " |")
    else:
        out.append("(none)")
    summary = within_summary(rt)
    out += ["", f"Within tolerance: {summary['within']} of {summary['measured']} measured paper cells "
                f"({summary['not_run']} of {summary['total']} paper cells not run)."]
    out += judging_markdown(rt)
    return "\n".join(out) + "\n"


def _tex_cell(c: Cell) -> str:
    rep = tex_escape(reproduced_str(c))
    if c.section != PAPER_SECTION:
        return rep
    lines = [_paper_str(c.paper.value) if c.paper else "--", rep]
    if c.delta is not None:
        lines.append(f"${_signed(c.delta, c.decimals)}$ " + (r"\checkmark" if c.within else r"\texttimes"))
    return r"\shortstack{" + r" \\ ".join(lines) + "}"


def table_latex(rt: ReproducedTable) -> str:
    """LaTeX (booktabs, amssymb): the paper rows, then a separate table of rows with no paper counterpart."""
    ncol = len(rt.table.columns)
    head = "Model & " + " & ".join(f"{tex_escape(column_label(rt, c))} ({tex_escape(c.unit)})"
                                  for c in rt.table.columns) + r" \\"
    label = rt.table.name.replace(" ", "")

    def block(rows: list[RowInfo], caption: str, tag: str) -> list[str]:
        lines = [r"\begin{table}[t]", r"\centering", r"\resizebox{\textwidth}{!}{%",
                 r"\begin{tabular}{l" + "c" * ncol + "}", r"\toprule", head, r"\midrule"]
        for info in rows:
            lines.append(tex_escape(info.label) + " & " + " & ".join(
                _tex_cell(rt.cell(info.label, c.key)) for c in rt.table.columns) + r" \\[2pt]")
        lines += [r"\bottomrule", r"\end{tabular}}", r"\caption{" + tex_escape(caption) + "}",
                  r"\label{tab:" + label + tag + "}", r"\end{table}"]
        return lines

    out = ["% needs \\usepackage{booktabs,amssymb,graphicx}"]
    out += block(rt.rows_in(PAPER_SECTION), table_caption(rt), "")
    others = rt.rows_in(OTHER_SECTION)
    if others:
        out.append("")
        out += block(others, f"{rt.table.title}: rows with no paper counterpart ({rt.other_rows}), "
                             f"config '{rt.config_name}'; reproduced mean ± sd over seeds (n).", "-other")
    return "\n".join(out) + "\n"


def table_rst_caption(rt: ReproducedTable) -> str:
    """A caption for the Snakemake HTML report."""
    s = within_summary(rt)
    return (f"{table_caption(rt)}\n\nWithin tolerance: {s['within']} of {s['measured']} measured paper cells; "
            f"{s['not_run']} of {s['total']} paper cells not run. Every reproduced number is traced to its "
            f"result files in the table's ``.provenance.json``.\n")
