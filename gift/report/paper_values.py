"""Load and validate `gift/assets/paper_values.yaml`, the numbers the paper reports in Tables 2 and 3."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gift.files import asset_path

UNITS = ("%", "chars")


@dataclass(frozen=True)
class PaperColumn:
    """One column of a paper table: its metric key in the eval JSONs, its label and unit."""

    key: str
    label: str
    unit: str
    higher_is_better: bool | None
    evaluator: str = ""


@dataclass(frozen=True)
class PaperValue:
    """One number the paper reports, with where it stands in the paper."""

    row: str
    column: str
    value: float
    source: dict


@dataclass
class PaperTable:
    """A paper table: ordered rows and columns and the reported value of every cell."""

    name: str
    title: str
    rows: list[str]
    columns: list[PaperColumn]
    values: dict[tuple[str, str], PaperValue] = field(default_factory=dict)

    def value(self, row: str, column: str) -> PaperValue | None:
        """The paper's value of a cell, or None where the paper has no such cell."""
        return self.values.get((row, column))

    def column(self, key: str) -> PaperColumn:
        """The column with metric key `key`; KeyError naming the valid keys otherwise."""
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(f"{self.name}: no column {key!r} (columns: {', '.join(c.key for c in self.columns)})")


def default_paper_values_path() -> Path:
    """The shipped `gift/assets/paper_values.yaml` (override with GIFT_PAPER_VALUES)."""
    env = os.environ.get("GIFT_PAPER_VALUES")
    if env:
        return Path(env)
    return asset_path("paper_values.yaml")


def load_paper_values(path: str | os.PathLike | None = None) -> dict[str, PaperTable]:
    """Read the paper's Tables 2 and 3, checking that every declared cell has exactly one value.

    Raises ValueError naming the file and the offending entry on any malformed or duplicate entry.
    """
    path = Path(path) if path is not None else default_paper_values_path()
    if not path.exists():
        raise FileNotFoundError(f"paper values file not found: {path}")
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        raise ValueError(f"{path}: expected a mapping with a 'tables' key")
    tables: dict[str, PaperTable] = {}
    for name, spec in doc["tables"].items():
        where = f"{path}: tables.{name}"
        for key in ("title", "rows", "columns", "values"):
            if key not in spec:
                raise ValueError(f"{where}: missing '{key}'")
        columns = []
        for i, c in enumerate(spec["columns"]):
            missing = [k for k in ("key", "label", "unit") if k not in c]
            if missing:
                raise ValueError(f"{where}.columns[{i}]: missing {', '.join(missing)}")
            if c["unit"] not in UNITS:
                raise ValueError(f"{where}.columns[{i}]: unit {c['unit']!r} not one of {UNITS}")
            columns.append(PaperColumn(key=c["key"], label=c["label"], unit=c["unit"],
                                       higher_is_better=c.get("higher_is_better"),
                                       evaluator=c.get("evaluator", "")))
        table = PaperTable(name=name, title=spec["title"], rows=list(spec["rows"]), columns=columns)
        col_keys = {c.key for c in columns}
        for i, v in enumerate(spec["values"]):
            missing = [k for k in ("row", "column", "value", "source") if k not in v]
            if missing:
                raise ValueError(f"{where}.values[{i}]: missing {', '.join(missing)}")
            if v["row"] not in table.rows:
                raise ValueError(f"{where}.values[{i}]: row {v['row']!r} not among rows {table.rows}")
            if v["column"] not in col_keys:
                raise ValueError(f"{where}.values[{i}]: column {v['column']!r} not among {sorted(col_keys)}")
            if not isinstance(v["value"], int | float) or isinstance(v["value"], bool):
                raise ValueError(f"{where}.values[{i}]: value {v['value']!r} is not a number")
            cell = (v["row"], v["column"])
            if cell in table.values:
                raise ValueError(f"{where}.values[{i}]: duplicate cell {cell}")
            table.values[cell] = PaperValue(row=v["row"], column=v["column"], value=float(v["value"]),
                                            source=dict(v["source"]))
        absent = [(r, c.key) for r in table.rows for c in columns if (r, c.key) not in table.values]
        if absent:
            raise ValueError(f"{where}: no value for cells {absent}")
        tables[name] = table
    return tables
