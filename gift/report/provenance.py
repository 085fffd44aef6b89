"""Where every reported number came from: provenance records written beside each table and figure."""

from __future__ import annotations

import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Any

from gift.files import git_commit, read_json


def header(config_name: str, kind: str, name: str, inputs: list[str] | None = None) -> dict:
    """The common head of a provenance record: what was made, from which inputs, by which code."""
    return {
        "kind": kind,
        "name": name,
        "config": config_name,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "argv": list(sys.argv),
        "inputs": sorted(str(p) for p in (inputs or [])),
    }


def provenance_path(prefix: str | os.PathLike) -> Path:
    """The provenance file beside a table or figure written to PREFIX.*."""
    return Path(f"{prefix}.provenance.json")


def trace_cell(provenance: dict | str | os.PathLike, row: str, column: str) -> dict:
    """The provenance of one table cell: its values, the model ids and the result files they came from.

    Raises KeyError when the table has no such cell.
    """
    doc = provenance if isinstance(provenance, dict) else read_json(provenance)
    for cell in doc.get("cells", []):
        if cell["row"] == row and cell["column"] == column:
            return cell
    raise KeyError(f"provenance of {doc.get('name')}: no cell ({row!r}, {column!r})")


def files_of(cell: dict[str, Any]) -> list[str]:
    """The distinct result files behind a traced cell, in order."""
    seen: list[str] = []
    for m in cell.get("measurements", []):
        if m["file"] not in seen:
            seen.append(m["file"])
    return seen
