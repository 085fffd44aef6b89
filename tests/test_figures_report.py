"""Figures 2-6 and the reward-correlation figure from synthetic run directories: files, bands, 'not run'."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gift.report.cli import figure_main
from gift.report.inputs import Run, figure_id, load_grid, load_runs
from gift.report.stats import final_value, seed_band
from tests.report_fixtures import synthetic_results, write_run_dir

REPO = Path(__file__).resolve().parents[1]
FIGURES = ("fig2a", "fig2b", "fig3", "fig4", "fig5", "fig6", "fig_correlation")
SKIPPED = "tiny-math-grpo-s1"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every figure drawn once from one synthetic results tree (one grid run left without a directory)."""
    root = tmp_path_factory.mktemp("figs")
    res = synthetic_results(root / "results", seeds=(0, 1), skip=[SKIPPED], larger_backbone=False)
    all_runs = [str(p) for p in res.run_dirs.values()]
    for fid in FIGURES:
        # every run directory is passed: each figure keeps only the runs the grid assigns to it
        assert figure_main(["--config-name", "synthetic", "--grid", str(res.grid_path), "--runs", *all_runs,
                            "--out", str(root / "figures" / fid)], fid) == 0
    return res, root / "figures"


@pytest.mark.parametrize("fid", FIGURES)
def test_every_figure_is_written_as_png_and_pdf_with_caption_and_provenance(rendered, fid):
    _, out = rendered
    png, pdf = out / f"{fid}.png", out / f"{fid}.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 10_000
    cap = (out / f"{fid}.rst").read_text(encoding="utf-8")
    assert "{" not in cap and "}" not in cap  # Snakemake renders captions through Jinja
    record = json.loads((out / f"{fid}.provenance.json").read_text(encoding="utf-8"))
    assert record["name"] == figure_id(fid) and record["config"] == "synthetic"
    assert not list(out.glob(f".{fid}*"))  # no temporary files left behind


def test_figure_keeps_only_its_runs_and_lists_the_missing_one_as_not_run(rendered):
    res, out = rendered
    record = json.loads((out / "fig3.provenance.json").read_text(encoding="utf-8"))
    expected = {e["run_id"] for e in res.grid if "fig3" in e["figure"]}
    drawn = {r["run_id"] for p in record["panels"] for s in p["series"] for r in s["runs"]}
    assert drawn == expected
    assert record["not_run"] == [SKIPPED]
    assert "Not run: GRPO tiny math seed 1" in (out / "fig3.rst").read_text(encoding="utf-8")
    # Figure 5 has panels a-c for one backbone, the third being response length, as in the paper
    rec5 = json.loads((out / "fig5.provenance.json").read_text(encoding="utf-8"))
    assert [(p["panel"], p["metric"]) for p in rec5["panels"]] == [
        ("a", "train_pass@1"), ("b", "eval_pass@1"), ("c", "completion_length")]
    # Figure 4 has no runs in this grid: it is still drawn, its panels reading 'not run'
    rec4 = json.loads((out / "fig4.provenance.json").read_text(encoding="utf-8"))
    assert all(not p["series"] for p in rec4["panels"])
    # the correlation figure draws GIFT runs only
    recc = json.loads((out / "fig_correlation.provenance.json").read_text(encoding="utf-8"))
    ids = {r["run_id"] for p in recc["panels"] for s in p["series"] for r in s["runs"]}
    assert ids and all("-gift-" in i for i in ids)


def test_fig2a_points_are_seed_means_of_final_values(rendered):
    res, out = rendered
    record = json.loads((out / "fig2a.provenance.json").read_text(encoding="utf-8"))
    series = next(s for s in record["series"] if s["metric"] == "eval_pass@1")
    for point in series["points"]:
        finals = []
        for rid in point["runs"]:
            rows = [json.loads(x) for x in (res.run_dirs[rid] / "metrics.jsonl").read_text().splitlines()]
            ev = [r["eval_pass@1"] for r in rows if "eval_pass@1" in r]
            finals.append(np.mean(ev[-max(1, int(np.ceil(0.1 * len(ev)))):]))
        assert point["mean"] == pytest.approx(np.mean(finals))
        assert point["sd"] == pytest.approx(np.std(finals, ddof=1))
    assert [p["N"] for p in series["points"]] == [2, 4, 8, 16, 32]


def test_seed_band_is_mean_and_sample_sd_per_step():
    a = (np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0]))
    b = (np.array([1.0, 2.0]), np.array([14.0, 22.0]))
    band = seed_band([a, b])
    assert band.steps.tolist() == [1.0, 2.0, 3.0]
    assert band.mean.tolist() == [12.0, 21.0, 30.0]
    assert band.sd[0] == pytest.approx(np.std([10, 14], ddof=1)) and np.isnan(band.sd[2])
    assert band.n.tolist() == [2, 2, 1]
    assert final_value([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) == pytest.approx(10.5)  # last 2 of 11 points


def test_metrics_reader_skips_bad_lines_nulls_and_resumed_duplicates(tmp_path):
    d = write_run_dir(tmp_path / "r1", [{"step": 1, "eval_pass@1": 10.0}, {"step": 2, "eval_pass@1": None},
                                        {"step": 2, "eval_pass@1": 20.0}, {"step": 3, "eval_pass@1": 30.0}])
    with open(d / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "eval_pa')  # a line being written when the figure was drawn
    (run,) = load_runs([d], [{"run_id": "r1", "method": "gift"}])
    steps, vals = run.series("eval_pass@1")
    assert steps.tolist() == [1.0, 2.0, 3.0] and vals.tolist() == [10.0, 20.0, 30.0]
    assert run.bad_lines == 1
    with pytest.raises(ValueError, match="no grid entry with run_id 'r2'"):
        load_runs([tmp_path / "r2"], [])


def test_figure_with_no_runs_at_all_still_renders(tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"runs": [
        {"run_id": "a-gift-s0", "method": "gift", "figure": ["fig6"], "backbone": "tiny", "dataset": "rlhf", "seed": 0},
        {"run_id": "b-dapo-s0", "method": "dapo", "figure": [], "backbone": "tiny", "dataset": "rlhf", "seed": 0}]}))
    # a run the grid draws in no figure is left out even when its directory is passed
    other = write_run_dir(tmp_path / "runs" / "b-dapo-s0", [{"step": 1, "reward_mean": 0.5}])
    out = tmp_path / "fig6"
    assert figure_main(["--config-name", "smoke", "--grid", str(grid), "--runs", str(other), "--out", str(out)],
                       "fig6") == 0
    record = json.loads(Path(f"{out}.provenance.json").read_text())
    assert record["not_run"] == ["a-gift-s0"]
    assert all(s["label"] != "DAPO" for p in record["panels"] for s in p["series"])


def test_a_run_without_values_of_a_metric_reads_differently_from_a_run_not_run(tmp_path):
    grid = tmp_path / "grid.json"
    entries = [{"run_id": f"{d}-gift-s0", "method": "gift", "figure": ["fig_correlation"], "backbone": "tiny",
                "dataset": d, "seed": 0} for d in ("gsm8k", "math", "aime")]
    grid.write_text(json.dumps(entries))
    ran = write_run_dir(tmp_path / "runs" / "gsm8k-gift-s0", [{"step": 1, "implicit_explicit_corr": 0.5}])
    silent = write_run_dir(tmp_path / "runs" / "math-gift-s0", [{"step": 1, "loss": 0.1}])  # std 0: no corr logged
    out = tmp_path / "corr"
    assert figure_main(["--config-name", "smoke", "--grid", str(grid), "--runs", str(ran), str(silent),
                        "--out", str(out)], "fig_correlation") == 0
    panel = json.loads(Path(f"{out}.provenance.json").read_text())["panels"][0]
    assert sorted(panel["absent"]) == ["tiny · aime: not run", "tiny · math: no values logged"]
    assert Path(f"{out}.png").stat().st_size > 0 and Path(f"{out}.pdf").stat().st_size > 0


def test_figure_script_runs_as_the_workflow_calls_it(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    out = tmp_path / "fig2b"
    proc = subprocess.run([sys.executable, str(REPO / "figures" / "fig2b.py"), "--config-name", "smoke", "--runs",
                           *res.runs_of("fig2b"), "--grid", str(res.grid_path), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(Path(f"{out}.provenance.json").read_text())
    labels = {s["label"] for p in record["panels"] for s in p["series"]}
    assert labels == {"kl_sum", "kl_average"}


def test_grid_entry_without_ids_is_a_clear_error(tmp_path):
    p = tmp_path / "grid.json"
    p.write_text(json.dumps([{"method": "gift"}]))
    with pytest.raises(ValueError, match="entry 0 has neither 'run_id' nor 'model_id'"):
        load_grid(p)


def test_figure_ids_are_normalised():
    assert [figure_id(x) for x in ("fig3", "Fig 2a", "2b", "fig_correlation", "Table 2")] == [
        "fig3", "fig2a", "fig2b", "correlation", "table2"]
    assert Run("x", {"method": "GIFT"}).method == "gift"


def test_reference_ablation_figure_tells_the_two_gift_runs_apart(tmp_path):
    from gift.files import write_json
    from tests.report_fixtures import curve_metrics, saturating

    runs, grid = [], []
    # the rollout run carries its reference in method_args (the config's), the ablation in its variant
    for run_id, method, variant, args, end in (
            ("g-rollout", "gift", {"implicit_reference": "rollout"}, {"implicit_reference": "rollout"}, 50.0),
            ("g-ref", "gift", {"implicit_reference": "reference"}, {"implicit_reference": "rollout"}, 35.0),
            ("grpo", "grpo", {}, {}, 48.0)):
        rows = curve_metrics(20, 5, lambda s, e=end: saturating(s, 30, e, 0.2), lambda s, e=end: saturating(s, 30, e, 0.2))
        runs.append(str(write_run_dir(tmp_path / "runs" / run_id, rows, config={"method": method}, seed=0)))
        grid.append({"run_id": run_id, "figure": ["fig_reference"], "panel": None, "backbone": "tiny-a",
                     "backbone_label": "tiny-a", "dataset": "gsm8k", "eval_dataset": "gsm8k", "method": method,
                     "variant": variant, "method_args": args, "seed": 0})
    write_json(tmp_path / "grid.json", {"runs": grid})
    out = tmp_path / "fig_reference"
    proc = subprocess.run([sys.executable, str(REPO / "figures" / "fig_reference.py"), "--config-name", "tiny",
                           "--runs", *runs, "--grid", str(tmp_path / "grid.json"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(Path(f"{out}.provenance.json").read_text())
    by_label = {s["label"]: [r["run_id"] for r in s["runs"]] for p in record["panels"] for s in p["series"]}
    assert by_label == {"GIFT, rhat vs sampling policy": ["g-rollout"], "GIFT, rhat vs π_ref": ["g-ref"],
                        "GRPO": ["grpo"]}
    assert [p["metric"] for p in record["panels"]] == ["train_pass@1", "eval_pass@1"]
    assert Path(f"{out}.png").stat().st_size > 10_000


def _update_rows(updates: int, n_batches: int, norm_first: float, spread_later: float, max_norm: float) -> list[dict]:
    """metrics.jsonl rows of `n_batches` rollout batches of `updates` updates each: update 1 with no implicit-reward
    spread and a large norm, the later ones with a spread and a unit norm."""
    rows = []
    for b in range(n_batches):
        for i in range(1, updates + 1):
            norm = norm_first if i == 1 else 2.0 + i
            row = {"step": b * updates + i, "rollout_batch": b + 1, "update_in_batch": i, "grad_norm": norm,
                   "clipped": bool(max_norm and norm > max_norm),
                   "implicit_reward_group_std": 0.0 if i == 1 else spread_later * i}
            if i > 1:
                row["implicit_explicit_corr"] = 0.1 * i
            rows.append(row)
    return rows


def test_first_update_figure_draws_each_diagnostic_by_index_within_the_rollout_batch(tmp_path):
    entries, dirs = [], []
    settings = {"clip": ({}, 4), "no_clip": ({"max_grad_norm": 0.0}, 4), "one_update": ({}, 1)}
    for name, (args, updates) in settings.items():
        for seed in (0, 1):
            run_id = f"gsm8k-gift-{name}-s{seed}"
            entries.append({"run_id": run_id, "method": "gift", "figure": ["fig_first_update"], "backbone": "tiny",
                            "dataset": "gsm8k", "seed": seed, "method_args": args,
                            "batch": {"updates_per_rollout_batch": updates}})
            norm_first = 1e6 * (1 + seed)
            dirs.append(str(write_run_dir(tmp_path / "runs" / run_id, _update_rows(
                updates, 3, norm_first, 0.01 * (1 + seed), args.get("max_grad_norm", 1.0)), seed=seed)))
    entries.append({"run_id": "gsm8k-grpo-s0", "method": "grpo", "figure": ["fig_first_update"], "backbone": "tiny",
                    "dataset": "gsm8k", "seed": 0})
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(entries))
    out = tmp_path / "fig_first_update"
    proc = subprocess.run([sys.executable, str(REPO / "figures" / "fig_first_update.py"), "--config-name", "tiny",
                           "--grid", str(grid), "--runs", *dirs, "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Path(f"{out}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(f"{out}.pdf").stat().st_size > 0
    record = json.loads(Path(f"{out}.provenance.json").read_text())
    panels = {p["metric"]: {s["label"]: s for s in p["series"]} for p in record["panels"]}
    assert list(panels) == ["grad_norm", "implicit_reward_group_std", "implicit_explicit_corr", "clipped"]
    labels = {"clip at 1, 4 updates per rollout batch", "no clipping, 4 updates per rollout batch",
              "clip at 1, 1 update per rollout batch"}
    assert set(panels["grad_norm"]) == labels  # GRPO is not drawn: the diagnostics are GIFT's
    norm = {p["index"]: p for p in panels["grad_norm"]["clip at 1, 4 updates per rollout batch"]["points"]}
    # update 1: the seeds' means 1e6 and 2e6 -> 1.5e6 ± sd 7.07e5; update 3: 5 for both seeds
    assert norm[1]["mean"] == pytest.approx(1.5e6) and norm[1]["sd"] == pytest.approx(np.std([1e6, 2e6], ddof=1))
    assert norm[3]["mean"] == pytest.approx(5.0) and norm[3]["n"] == 2
    spread = {p["index"]: p["mean"] for p in panels["implicit_reward_group_std"][
        "clip at 1, 4 updates per rollout batch"]["points"]}
    assert spread == pytest.approx({1: 0.0, 2: 0.03, 3: 0.045, 4: 0.06})
    clipped = {label: {p["index"]: p["mean"] for p in s["points"]} for label, s in panels["clipped"].items()}
    assert clipped["clip at 1, 4 updates per rollout batch"] == {1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}
    assert clipped["no clipping, 4 updates per rollout batch"] == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
    assert clipped["clip at 1, 1 update per rollout batch"] == {1: 100.0}
    assert "index within its rollout batch" in Path(f"{out}.rst").read_text()


def test_figures_3_to_5_count_rollout_batches_on_the_x_axis(tmp_path):
    """The paper's x axis: rollout batches (verl's trainer steps); a batch's updates are averaged into one point,
    and rows written without `rollout_batch` get it from the grid entry's updates per rollout batch."""
    entries = [{"run_id": f"{m}-s0", "method": m, "figure": ["fig3"], "backbone": "tiny", "dataset": "gsm8k",
                "seed": 0, "batch": {"updates_per_rollout_batch": 4}} for m in ("gift", "grpo")]
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(entries))
    rows = [{"step": 0, "rollout_batch": 0, "eval_pass@1": 10.0}]
    rows += [{"step": s, "rollout_batch": (s - 1) // 4 + 1, "update_in_batch": (s - 1) % 4 + 1,
              "train_pass@1": float(s), **({"eval_pass@1": 20.0} if s == 8 else {})} for s in range(1, 9)]
    older = [{k: v for k, v in r.items() if k not in ("rollout_batch", "update_in_batch")} for r in rows[1:]]
    dirs = [str(write_run_dir(tmp_path / "runs" / "gift-s0", rows)),
            str(write_run_dir(tmp_path / "runs" / "grpo-s0", older))]
    runs = load_runs(dirs, load_grid(grid))
    for run in runs:
        x, train = run.series("train_pass@1", x="rollout_batch")
        assert x.tolist() == [1.0, 2.0] and train.tolist() == [2.5, 6.5]  # means of updates 1-4 and 5-8
    x, ev = runs[0].series("eval_pass@1", x="rollout_batch")
    assert x.tolist() == [0.0, 2.0] and ev.tolist() == [10.0, 20.0]
    out = tmp_path / "fig3"
    assert figure_main(["--config-name", "t", "--grid", str(grid), "--runs", *dirs, "--out", str(out)], "fig3") == 0
    record = json.loads(Path(f"{out}.provenance.json").read_text())
    assert all(s["runs"][0]["points"] == 2 for p in record["panels"] if p["metric"] == "train_pass@1"
               for s in p["series"])
