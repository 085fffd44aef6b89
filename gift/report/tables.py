"""Tables 2 and 3: the paper's values beside the reproduced ones (Table 1 is `gift.report.table1`).

This module builds the cells (mean ± sd over seeds, Δ, tolerance) and their provenance record;
`gift.report.table_render` writes them as Markdown, LaTeX and CSV.
"""

from __future__ import annotations

import dataclasses
import logging
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
    other_rows: str = ""  # what the rows with no paper counterpart are, from their grid entries

    @property
    def title(self) -> str:
        """The paper's title, naming this config's own rows where it has any (they are not the paper's models)."""
        if not self.rows_in(OTHER_SECTION):
            return self.table.title
        return f"{self.table.title} (the paper's rows), beside this config's {self.other_rows}"

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
    row_list = _table_rows(table, grid, index)
    cells = {(info.label, col.key): _cell(table, info, col, index, tolerance_points, tolerance_length_rel)
             for info in row_list for col in table.columns}
    return ReproducedTable(table=table, config_name=config_name, tolerance_points=tolerance_points,
                           tolerance_length_rel=tolerance_length_rel, rows=row_list, cells=cells,
                           inputs=[str(e.path) for e in evals], absent_files=list(absent_files),
                           judging=judging_records(row_list, evals, col_keys),
                           other_rows=describe_models(grid, [m for r in row_list if r.section == OTHER_SECTION
                                                             for m in r.model_ids]))


def describe_models(grid: list[dict], model_ids: Sequence[str]) -> str:
    """'Qwen2.5-1.5B-Instruct models: GIFT, GRPO trained with RLVR on math; the untrained model', from the grid
    entries of the models (how each was trained: RLVR when its run has an eval dataset, RLHF otherwise)."""
    from gift.methods import display_name

    by_id = {e["model_id"]: e for e in grid if e.get("model_id")}
    per_backbone: dict[str, dict[str, list[str]]] = {}
    for mid in model_ids:
        e = by_id.get(mid)
        if e is None:
            continue
        backbone = str(e.get("backbone_label") or e.get("backbone") or "")
        if not e.get("run_id") or e.get("method") == "base":
            kind = "the untrained model"
        else:
            how = "RLVR" if e.get("eval_dataset") else "RLHF"
            kind = f"trained with {how} on {e.get('dataset')}"
        methods = per_backbone.setdefault(backbone, {}).setdefault(kind, [])
        name = display_name(str(e.get("method"))) if e.get("method") not in (None, "base") else ""
        if name and name not in methods:
            methods.append(name)
    parts = []
    for backbone, kinds in per_backbone.items():
        descr = "; ".join((f"{', '.join(ms)} {k}" if ms else k) for k, ms in kinds.items())
        parts.append(f"{backbone} models ({descr})" if backbone else descr)
    return "; ".join(parts) or "models with no row in the paper"


def _table_rows(table: PaperTable, grid: list[dict],
                index: dict[str, dict[str, tuple[dict, EvalResult]]]) -> list[RowInfo]:
    """The paper's rows in its order, then the grid's models with no paper row that the table's evaluations
    scored, by label; each row with the model ids (seeds) that reproduce it."""
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
    return list(rows.values()) + [others[k] for k in sorted(others)]


def _cell(table: PaperTable, info: RowInfo, col: PaperColumn, index: dict[str, dict[str, tuple[dict, EvalResult]]],
          tolerance_points: float, tolerance_length_rel: float) -> Cell:
    """One cell: the row's measurements of the column, their mean ± sd, and Δ and the verdict against the paper."""
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
    return cell


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


def cell_record(c: Cell) -> dict:
    """A cell as plain data (its provenance entry), each measurement with its model id, seed and file."""
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
        "cells": [cell_record(rt.cell(info.label, c.key)) for info in rt.rows for c in rt.table.columns],
    })
    return doc


def within_summary(rt: ReproducedTable) -> dict[str, int]:
    """Counts over the paper rows: cells measured, within tolerance, and not run."""
    paper_cells = [c for c in rt.cells.values() if c.section == PAPER_SECTION]
    return {"total": len(paper_cells), "measured": sum(c.mean is not None for c in paper_cells),
            "within": sum(bool(c.within) for c in paper_cells),
            "not_run": sum(c.mean is None for c in paper_cells)}
