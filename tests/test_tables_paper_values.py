"""gift/assets/paper_values.yaml holds exactly the numbers of docs/evaluation.md's Tables 2 and 3, each with its source.

The YAML is what the code reads; the docs page is the transcription a reader checks against the paper.
Two transcriptions that agree cell by cell leave little room for a typo in either.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gift.report.paper_values import default_paper_values_path, load_paper_values

REPO = Path(__file__).resolve().parents[1]
PAPER_VALUES = default_paper_values_path()
EVALUATION_DOC = REPO / "docs" / "evaluation.md"

# The column labels of the docs tables, in their order, mapped to the eval-JSON metric keys.
DOC_COLUMNS = {
    "Table 2 (lm-eval": ["truthfulqa", "bbq", "mbpp", "arc_challenge", "winogender", "gpqa", "musr"],
    "Table 3 (AlpacaEval": ["lc_win_rate", "win_rate", "avg_length", "hard_prompts_style_control", "creative_writing"],
}


def _parse_doc_table(text: str, marker: str) -> dict[tuple[str, str], float]:
    """The Markdown table that follows `marker` in docs/evaluation.md, as {(row, column key): value}."""
    start = text.index(marker)
    lines = text[start:].splitlines()
    table_lines = []
    for line in lines[1:]:
        if line.startswith("|"):
            table_lines.append(line)
        elif table_lines:
            break
    header, _rule, *body = table_lines
    cols = DOC_COLUMNS[marker]
    assert len([c for c in header.strip("|").split("|")]) == len(cols) + 1
    out = {}
    for line in body:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for key, cell in zip(cols, cells[1:], strict=True):
            assert re.fullmatch(r"\d+(\.\d+)?", cell), cell
            out[(cells[0], key)] = float(cell)
    return out


@pytest.mark.parametrize("marker,table", [("Table 2 (lm-eval", "table2"), ("Table 3 (AlpacaEval", "table3")])
def test_paper_values_equal_the_docs_tables(marker, table):
    spec = _parse_doc_table(EVALUATION_DOC.read_text(encoding="utf-8"), marker)
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
