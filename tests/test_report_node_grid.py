"""The report steps on config/node.yaml's grid (synthetic metrics): its figures, tables and REPORT.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gift import grid as G
from gift.report.cli import figure_main, report_main, table1_main, table_main
from tests.report_fixtures import curve_metrics, saturating, write_eval_json, write_run_dir

REPO = Path(__file__).resolve().parents[1]
TABLE_METRICS = {
    "lm_eval": ("truthfulqa", "bbq", "mbpp", "arc_challenge", "winogender", "gpqa", "musr"),
    "alpaca_eval": ("lc_win_rate", "win_rate", "avg_length"),
    "arena_hard": ("hard_prompts_style_control", "creative_writing"),
}


def test_node_grid_yields_its_figures_tables_and_report(tmp_path):
    grid = G.expand(G.load_config(REPO / "config" / "node.yaml"))
    grid_path = tmp_path / "grid.json"
    G.write_grid_json(grid, grid_path)
    entries = json.loads(grid_path.read_text())["runs"]
    run_dirs, evals = {}, []
    for i, e in enumerate(entries):
        if e["run_id"]:
            rows = curve_metrics(8, 2, lambda s, i=i: saturating(s, 5, 40 + i % 7, 0.3),
                                 lambda s, i=i: saturating(s, 5, 35 + i % 5, 0.3),
                                 corr=lambda s: 0.1 * s, beta=lambda s: 1.0 + 1.0 / s, seed=i)
            if e.get("sweep"):
                for r in rows:
                    if "eval_pass@1" in r:
                        r.update({"selection_pass@1": r["eval_pass@1"] - 1.0, "selection_pass@1_stderr": 1.0,
                                  "selection_n": 256})
            run_dirs[e["run_id"]] = write_run_dir(tmp_path / "runs" / e["run_id"], rows, seed=e["seed"])
        for name, path in (e.get("evals") or {}).items():
            values = {k: 30.0 + i % 9 for k in TABLE_METRICS.get(name, ("pass@1",))}
            evals.append(write_eval_json(tmp_path / path, e["model_id"], name, values))
    assert grid.figures() == ["fig3", "fig_reference", "fig_correlation", "fig_sweep"]
    for fid in grid.figures():
        runs = [str(run_dirs[r]) for r in grid.figure_runs(fid)]
        assert runs, fid
        prefix = tmp_path / "figures" / fid
        assert figure_main(["--config-name", "node", "--runs", *runs, "--grid", str(grid_path),
                            "--out", str(prefix)], fid) == 0
        assert Path(f"{prefix}.png").stat().st_size > 0
        assert json.loads(Path(f"{prefix}.provenance.json").read_text())["not_run"] == []
    for table in grid.tables():
        prefix = tmp_path / "tables" / table
        if table == "table1":
            assert table1_main(["--config-name", "node", "--grid", str(grid_path), "--out", str(prefix)]) == 0
            continue
        paths = [str(tmp_path / grid.eval_path(m, e)) for m, e in grid.table_evals(table)]
        assert table_main(["--config-name", "node", "--evals", *paths, "--grid", str(grid_path),
                           "--out", str(prefix)], table) == 0
        with open(f"{prefix}.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        ours = {r["row"] for r in rows if r["section"] == "no paper counterpart"}
        assert ours == {"1.5B-GIFT", "1.5B-GRPO", "1.5B-DAPO", "1.5B-Instruct"}, ours
        # three seeds of each method's MATH run behind every trained row
        assert {r["n"] for r in rows if r["section"] == "no paper counterpart" and r["row"] != "1.5B-Instruct"} == {"3"}
    out = tmp_path / "REPORT.md"
    figs = [str(tmp_path / "figures" / f"{f}.png") for f in grid.figures()]
    assert report_main(["--config-name", "node", "--grid", str(grid_path), "--runs", *map(str, run_dirs.values()),
                        "--evals", *map(str, evals), "--figures", *figs, "--out", str(out)]) == 0
    md = out.read_text(encoding="utf-8")
    assert "![fig_sweep](figures/fig_sweep.png)" in md and "![fig3](figures/fig3.png)" in md
    doc = json.loads(out.with_suffix(".claims.json").read_text())
    claims = {c["cid"]: c["verdict"] for c in doc["claims"]}
    assert claims["C1"] in ("supported", "contradicted", "inconclusive")
    # Tables 2 and 3 hold RLVR-trained 1.5B models: captions say so, and the RLHF claims are not judged on them
    assert "smoke/tiny" not in md
    assert ("beside this config's Qwen2.5-1.5B-Instruct models (DAPO, GIFT, GRPO trained with RLVR on math; the "
            "untrained model)") in md
    for cid in ("C6a", "C6b"):
        measured = next(c["measured"] for c in doc["claims"] if c["cid"] == cid)
        assert claims[cid] == "not measured" and "RLVR-trained, not the paper's RLHF models" in measured
    answer = md[md.index("## Answer"):md.index("## The paper's claims")]
    # the sweep's picks stand in the answer, beside the rate the 200-step main runs use
    for arm in ("GIFT", "GRPO", "DAPO"):
        assert f"Sweep Qwen2.5-1.5B-Instruct · gsm8k: {arm} picked learning_rate=" in answer
    assert "judged on the seeds that chose them" in answer
