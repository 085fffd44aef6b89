"""Tables 1-3: the paper's values beside the reproduced ones, 'not run' for missing results, provenance."""

from __future__ import annotations

import csv
import io
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gift.report import provenance as prov
from gift.report.cli import table1_main, table_main
from gift.report.inputs import load_eval_results
from gift.report.paper_values import default_paper_values_path, load_paper_values
from gift.report.table1 import table1_rows
from gift.report.table_render import table_csv, table_latex, table_markdown
from gift.report.tables import build_reproduced_table
from tests.report_fixtures import synthetic_results, write_eval_json

REPO = Path(__file__).resolve().parents[1]
PAPER_VALUES = default_paper_values_path()


@pytest.fixture(scope="module")
def paper():
    return load_paper_values(PAPER_VALUES)


def _grid_entry(model_id, paper_row, seed, method="gift", label=None):
    return {"run_id": model_id, "model_id": model_id, "model_label": label or paper_row, "paper_row": paper_row,
            "backbone": "qwen-7b", "method": method, "seed": seed, "tables": ["table2", "table3"], "figure": ["fig6"]}


def _csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_cell_holds_paper_value_seed_mean_sd_delta_and_tolerance_mark(tmp_path, paper):
    values = [68.1, 69.9, 70.6]  # 7B-GIFT TruthfulQA over three seeds; the paper reports 69.05
    grid, files = [], []
    for seed, v in enumerate(values):
        mid = f"gift-s{seed}"
        grid.append(_grid_entry(mid, "7B-GIFT", seed))
        files.append(write_eval_json(tmp_path / mid / "lm_eval.json", mid, "lm_eval", {"truthfulqa": v, "bbq": 40.0}))
    evals, _ = load_eval_results(files)
    rt = build_reproduced_table(paper["table2"], grid, evals, "test", tolerance_points=2.0)
    c = rt.cell("7B-GIFT", "truthfulqa")
    assert c.paper.value == 69.05
    assert c.n == 3
    assert c.mean == pytest.approx(statistics.mean(values))
    assert c.sd == pytest.approx(statistics.stdev(values))
    assert c.delta == pytest.approx(statistics.mean(values) - 69.05)
    assert c.within is True  # |69.533 - 69.05| <= 2
    bbq = rt.cell("7B-GIFT", "bbq")
    assert bbq.within is False and bbq.delta == pytest.approx(40.0 - 58.08)
    # a tighter tolerance flips the mark, and the caption states the tolerance used
    tight = build_reproduced_table(paper["table2"], grid, evals, "test", tolerance_points=0.25)
    assert tight.cell("7B-GIFT", "truthfulqa").within is False
    assert "±0.25 points" in table_markdown(tight)
    md = table_markdown(rt)
    assert "69.05 · 69.53 ± 1.29 (n=3) · Δ +0.48 ✓" in md
    assert "±2 points" in md


def test_length_column_tolerance_is_a_share_of_the_paper_value(tmp_path, paper):
    grid = [_grid_entry("m", "7B-GIFT", 0)]
    f = write_eval_json(tmp_path / "m" / "alpaca_eval.json", "m", "alpaca_eval", {"avg_length": 4291 * 1.09})
    evals, _ = load_eval_results([f])
    rt = build_reproduced_table(paper["table3"], grid, evals, "test", tolerance_length_rel=0.10)
    c = rt.cell("7B-GIFT", "avg_length")
    assert c.tolerance == pytest.approx(429.1) and c.within is True
    rt5 = build_reproduced_table(paper["table3"], grid, evals, "test", tolerance_length_rel=0.05)
    assert rt5.cell("7B-GIFT", "avg_length").within is False


def test_missing_result_renders_not_run_never_zero(tmp_path, paper):
    grid = [_grid_entry("m", "7B-GRPO", 0, method="grpo")]
    f = write_eval_json(tmp_path / "m" / "lm_eval.json", "m", "lm_eval", {"truthfulqa": 66.0})
    evals, absent = load_eval_results([f, tmp_path / "m" / "missing.json"])
    assert absent == [str(tmp_path / "m" / "missing.json")]
    rt = build_reproduced_table(paper["table2"], grid, evals, "test", absent_files=absent)
    rows = {(r["row"], r["column"]): r for r in _csv_rows(table_csv(rt))}
    miss = rows[("7B-GRPO", "bbq")]
    assert miss["reproduced"] == "not run" and miss["status"] == "not run"
    assert miss["mean"] == "" and miss["n"] == "0" and miss["delta"] == "" and miss["within_tolerance"] == ""
    # rows no grid model reproduces are still shown, as 'not run'
    assert rows[("32B-GIFT", "musr")]["reproduced"] == "not run"
    md = table_markdown(rt)
    assert "53.79 · not run" in md
    for line in md.splitlines():
        if line.startswith("| 7B-GRPO"):
            cells = [c.strip() for c in line.strip("|").split("|")][1:]
            assert cells[0].startswith("66.93 · 66.00 (n=1)")
            assert all("not run" in c for c in cells[1:])
            assert not any(" 0.00" in c for c in cells[1:])
    tex = table_latex(rt)
    assert r"\shortstack{53.79 \\ not run}" in tex


def test_rows_without_a_paper_counterpart_stay_apart_from_paper_rows(tmp_path, paper):
    grid = [_grid_entry("tiny-gift-s0", None, 0, label="tiny-GIFT"), _grid_entry("gift-s0", "7B-GIFT", 0)]
    files = [write_eval_json(tmp_path / m / "lm_eval.json", m, "lm_eval", {"truthfulqa": v})
             for m, v in (("tiny-gift-s0", 12.5), ("gift-s0", 70.0))]
    evals, _ = load_eval_results(files)
    rt = build_reproduced_table(paper["table2"], grid, evals, "smoke")
    tiny = rt.cell("tiny-GIFT", "truthfulqa")
    assert tiny.section == "no paper counterpart" and tiny.paper is None and tiny.delta is None
    assert rt.cell("7B-GIFT", "truthfulqa").measurements[0].model_id == "gift-s0"
    md = table_markdown(rt)
    paper_part, other_part = md.split("Rows with no paper counterpart")
    assert "tiny-GIFT" not in paper_part and "| tiny-GIFT | 12.50 (n=1) |" in other_part
    rows = _csv_rows(table_csv(rt))
    assert {r["section"] for r in rows if r["row"] == "tiny-GIFT"} == {"no paper counterpart"}
    assert all(r["paper"] == "" for r in rows if r["row"] == "tiny-GIFT")
    # a label that collides with a paper row but has no paper_row is refused
    bad = [_grid_entry("x", None, 0, label="7B-GIFT")]
    with pytest.raises(ValueError, match="names a paper row"):
        build_reproduced_table(paper["table2"], bad, evals, "smoke")
    with pytest.raises(ValueError, match="paper_row '9B-GIFT' is not a row"):
        build_reproduced_table(paper["table2"], [_grid_entry("y", "9B-GIFT", 0)], evals, "smoke")


def test_table_number_traces_back_to_its_result_files(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2), paper_rows=True)
    out = tmp_path / "tables" / "table2"
    assert table_main(["--config-name", "synthetic", "--grid", str(res.grid_path), "--evals",
                       *map(str, res.eval_paths), "--out", str(out), "--paper-values", str(PAPER_VALUES)],
                      "table2") == 0
    rows = {(r["row"], r["column"]): r for r in _csv_rows(Path(f"{out}.csv").read_text(encoding="utf-8"))}
    shown = rows[("7B-GIFT", "mbpp")]
    cell = prov.trace_cell(prov.provenance_path(out), "7B-GIFT", "mbpp")
    files = prov.files_of(cell)
    assert len(files) == 3 and shown["files"].split(";") == files
    # open each file the provenance names and recompute the reported number from it
    from_files = []
    for path in files:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        assert doc["model"] in shown["model_ids"].split(";")
        from_files.append(doc["metrics"]["mbpp"]["value"])
    assert float(shown["mean"]) == pytest.approx(statistics.mean(from_files))
    assert float(shown["sd"]) == pytest.approx(statistics.stdev(from_files))
    assert int(shown["n"]) == 3
    for ext in ("md", "tex", "rst"):
        assert Path(f"{out}.{ext}").stat().st_size > 0
    with pytest.raises(KeyError):
        prov.trace_cell(prov.provenance_path(out), "7B-GIFT", "nonsense")


def test_table_scripts_run_as_the_workflow_calls_them(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    for name in ("table2", "table3"):
        out = tmp_path / "t" / name
        proc = subprocess.run([sys.executable, str(REPO / "tables" / f"{name}.py"), "--config-name", "smoke",
                               "--evals", *map(str, res.eval_paths), "--grid", str(res.grid_path), "--out", str(out)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rows = _csv_rows(Path(f"{out}.csv").read_text(encoding="utf-8"))
        tiny = [r for r in rows if r["row"] == "tiny-GIFT"]
        assert tiny and all(r["section"] == "no paper counterpart" for r in tiny)
    rows = _csv_rows((tmp_path / "t" / "table3.csv").read_text(encoding="utf-8"))
    ah = [r for r in rows if r["column"] == "creative_writing" and r["row"] == "tiny-GIFT"]
    assert ah[0]["reproduced"] == "not run"  # the synthetic tree has no Arena-Hard results


def test_bad_eval_json_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"model": "m", "metrics": {"truthfulqa": {"value": "high"}}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.json: metrics.truthfulqa.value"):
        load_eval_results([p])
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_eval_results([p])


@dataclass
class _FakeSpec:
    properties: dict


def test_table1_comes_from_the_registry_properties():
    fake = {
        "gift": _FakeSpec({"on_policy": True, "rl": False, "group_normalisation": True,
                           "data_type": "group of sampled responses", "loss": "MSE of z-scores", "display_name": "GIFT"}),
        "dpo": _FakeSpec({"on_policy": False, "rl": False, "group_normalisation": False,
                          "data_type": "pairwise preference", "loss": "logistic", "display_name": "DPO"}),
    }
    rows = table1_rows(fake)
    assert [r["method"] for r in rows] == ["dpo", "gift"]  # the paper's order
    assert rows[1]["group_normalisation"] is True and rows[1]["rl"] is False
    with pytest.raises(ValueError, match="unknown methods"):
        table1_rows(fake, methods=["ppo"])
    broken = {"x": _FakeSpec({"on_policy": "yes", "rl": True, "group_normalisation": True, "data_type": "",
                              "loss": "", "display_name": "X"})}
    with pytest.raises(ValueError, match="'on_policy' is 'yes', not a bool"):
        table1_rows(broken)


def test_table1_from_the_real_registry(tmp_path):
    methods = pytest.importorskip("gift.methods")
    if not hasattr(methods, "METHODS"):
        pytest.skip("gift.methods has no METHODS registry yet")
    out = tmp_path / "table1"
    assert table1_main(["--config-name", "smoke", "--out", str(out)]) == 0
    rows = _csv_rows(Path(f"{out}.csv").read_text(encoding="utf-8"))
    by_name = {r["method"]: r for r in rows}
    assert set(by_name) == set(methods.METHODS)
    for name, spec in methods.METHODS.items():
        props = spec.properties
        assert by_name[name]["on_policy"] == ("yes" if props["on_policy"] else "no")
        assert by_name[name]["group_normalisation"] == ("yes" if props["group_normalisation"] else "no")
        assert by_name[name]["data_type"] == props["data_type"]
    md = Path(f"{out}.md").read_text(encoding="utf-8")
    assert "| Method | On-policy | RL | Group normalisation | Data type | Loss |" in md
    assert r"\checkmark" in Path(f"{out}.tex").read_text(encoding="utf-8")
