"""tables/paper_values.yaml holds exactly the numbers of SPEC.md §4's Tables 2 and 3, each with its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gift.report.paper_values import load_paper_values

REPO = Path(__file__).resolve().parents[1]
PAPER_VALUES = REPO / "tables" / "paper_values.yaml"
SPEC_CANDIDATES = (REPO.parent / "shared" / "SPEC.md", REPO / "shared" / "SPEC.md", Path("/work/shared/SPEC.md"))

# The column labels SPEC.md's tables use, in their order, mapped to the eval-JSON metric keys.
SPEC_COLUMNS = {
    "Table 2 (paper):": ["truthfulqa", "bbq", "mbpp", "arc_challenge", "winogender", "gpqa", "musr"],
    "Table 3 (paper):": ["lc_win_rate", "win_rate", "avg_length", "hard_prompts_style_control", "creative_writing"],
}


def _spec_text() -> str:
    for p in SPEC_CANDIDATES:
        if p.exists():
            return p.read_text(encoding="utf-8")
    pytest.skip("SPEC.md not found beside the checkout (../shared/SPEC.md)")


def _parse_spec_table(text: str, marker: str) -> dict[tuple[str, str], float]:
    """The Markdown table that follows `marker` in SPEC.md, as {(row, column key): value}."""
    start = text.index(marker)
    lines = text[start:].splitlines()
    table_lines = []
    for line in lines[1:]:
        if line.startswith("|"):
            table_lines.append(line)
        elif table_lines:
            break
    header, _rule, *body = table_lines
    cols = SPEC_COLUMNS[marker]
    assert len([c for c in header.strip("|").split("|")]) == len(cols) + 1
    out = {}
    for line in body:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for key, cell in zip(cols, cells[1:], strict=True):
            assert re.fullmatch(r"\d+(\.\d+)?", cell), cell
            out[(cells[0], key)] = float(cell)
    return out


@pytest.mark.parametrize("marker,table", [("Table 2 (paper):", "table2"), ("Table 3 (paper):", "table3")])
def test_paper_values_equal_the_spec_tables(marker, table):
    spec = _parse_spec_table(_spec_text(), marker)
    paper = load_paper_values(PAPER_VALUES)[table]
    assert len(spec) == len(paper.values) == len(paper.rows) * len(paper.columns)
    for (row, col), value in spec.items():
        assert paper.value(row, col).value == value, (table, row, col)


def test_every_paper_value_names_its_table_row_and_column():
    raw = yaml.safe_load(PAPER_VALUES.read_text(encoding="utf-8"))
    tables = load_paper_values(PAPER_VALUES)
    for name, spec in raw["tables"].items():
        labels = {c["key"]: c["label"] for c in spec["columns"]}
        for v in spec["values"]:
            src = v["source"]
            assert src["table"] == int(name[-1])
            assert src["row"] == v["row"]
            assert src["column"] == labels[v["column"]]
    assert tables["table2"].value("7B-GIFT", "truthfulqa").value == 69.05
    assert tables["table3"].value("32B-GIFT", "avg_length").value == 3327


def test_a_missing_or_duplicate_cell_is_a_clear_error(tmp_path):
    raw = yaml.safe_load(PAPER_VALUES.read_text(encoding="utf-8"))
    dropped = raw["tables"]["table2"]["values"].pop(3)
    p = tmp_path / "pv.yaml"
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"no value for cells.*{dropped['row']}"):
        load_paper_values(p)
    raw["tables"]["table2"]["values"] += [dropped, dropped]
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate cell"):
        load_paper_values(p)
    raw["tables"]["table2"]["values"][-1] = {**dropped, "column": "nonsense"}
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="column 'nonsense'"):
        load_paper_values(p)
