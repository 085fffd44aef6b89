"""REPORT.md's answer, its warnings and links, the Table 2/3 claims' scope, and the calibration of the verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from gift.report import verdicts as V
from gift.report.calibrate import calibrate
from gift.report.calibrate import cli as calibrate_cli
from gift.report.cli import report_main
from tests.report_fixtures import synthetic_results, write_eval_json


def _report(tmp_path, res, *extra):
    out = tmp_path / "REPORT.md"
    assert report_main(["--config-name", "synthetic", "--grid", str(res.grid_path),
                        "--runs", *map(str, res.run_dirs.values()), "--evals", *map(str, res.eval_paths),
                        "--calibration-sims", "200", *extra, "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".claims.json").read_text(encoding="utf-8"))
    return out.read_text(encoding="utf-8"), {c["cid"]: c for c in doc["claims"]}, doc


def _set_grid(res, **fields):
    doc = json.loads(res.grid_path.read_text(encoding="utf-8"))
    doc.update(fields)
    res.grid_path.write_text(json.dumps(doc), encoding="utf-8")
    return doc


def test_the_report_opens_with_the_answer_per_setting(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2))
    md, claims, _ = _report(tmp_path, res)
    head = md.split("## The paper's claims beside the measurements")[0]
    assert "## Answer" in head and "Does GIFT beat GRPO?" in head
    lines = [x for x in head.splitlines() if x.startswith("- **")]
    assert len(lines) == len(claims["C7"]["details"]) == 6  # Figures 3 and 4 (two datasets each), Figure 5's two
    gsm = next(x for x in lines if x.startswith("- **tiny · gsm8k**"))
    assert "(3 vs 3 seeds, GIFT vs GRPO)" in gsm and "GIFT − GRPO +" in gsm and "**supported**" in gsm
    # the level setting says what would make it decisive
    level = next(x for x in lines if "Qwen3 role" in x)
    assert "inconclusive" in level and "80% power" in level
    assert "checks the plumbing" not in md  # not a smoke config


def test_one_seed_settings_answer_no_verdict_and_say_what_would_decide(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    md, claims, _ = _report(tmp_path, res)
    head = md.split("## The paper's claims beside the measurements")[0]
    assert "1 seed: no verdict; at least 2 seeds per method" in head
    assert claims["C7"]["verdict"] == V.NO_VERDICT
    assert all(d["verdict"] == V.NO_VERDICT for d in claims["C7"]["details"])
    assert "(evaluation only)" in claims["C7"]["details"][0]["95% interval"]


def test_smoke_reports_warn_that_they_check_the_plumbing(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    _set_grid(res, size="smoke")
    md, _, _ = _report(tmp_path, res)
    answer = md.split("## Answer")[1].split("##")[0]
    assert "checks the plumbing, not the claims" in answer


def test_unmeasurable_claims_are_listed_once_at_the_end_out_of_the_counts(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2))
    keep = [p for rid, p in res.run_dirs.items() if rid.startswith(("tiny-gsm8k-gift-s", "tiny-gsm8k-grpo-s",
                                                                    "tiny-math-"))]
    out = tmp_path / "REPORT.md"
    assert report_main(["--config-name", "synthetic", "--grid", str(res.grid_path), "--runs", *map(str, keep),
                        "--evals", "--calibration-sims", "0", "--out", str(out)]) == 0
    md = out.read_text(encoding="utf-8")
    claims_table = md.split("## The paper's claims beside the measurements")[1].split("### Rules")[0]
    assert "| C1 |" in claims_table and "| C4 |" not in claims_table and "not measured" not in claims_table
    # the header counts the measured claims only
    measured = {"C1", "C2", "C7", "C10"}
    assert f"Verdicts of the {len(measured)} claims this config measured: {len(measured)} supported." in md
    tail = md.split("## Claims this config cannot measure")[1]
    for cid in ("C3a", "C3b", "C4", "C5", "C6a", "C6b", "C8", "C9"):
        assert md.count(f"- {cid} (") == 1 and f"- {cid} (" in tail


def test_every_run_links_its_log_metrics_and_config(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,), skip=["tiny-math-grpo-s0"])
    run_dir = res.run_dirs["tiny-gsm8k-gift-s0"]
    (run_dir / "train.log").write_text("step 1\n")
    cfg = res.root / "run_configs" / "tiny-gsm8k-gift-s0.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("run_id: tiny-gsm8k-gift-s0\n")
    md, _, _ = _report(tmp_path, res)
    runs = md.split("## Runs")[1]
    row = next(x for x in runs.splitlines() if x.startswith("| tiny-gsm8k-gift-s0 |"))
    assert "[train.log](results/runs/tiny-gsm8k-gift-s0/train.log)" in row
    assert "[metrics.jsonl](results/runs/tiny-gsm8k-gift-s0/metrics.jsonl)" in row
    assert "[run config](results/run_configs/tiny-gsm8k-gift-s0.yaml)" in row and "| done |" in row
    assert next(x for x in runs.splitlines() if x.startswith("| tiny-math-grpo-s0 |")).count("—") == 3


def _arena(res, style_gift: float, creative_gift: float) -> None:
    for mid, style, creative in (("tiny-rlhf-gift", style_gift, creative_gift), ("tiny-rlhf-grpo", 30.0, 30.0)):
        for seed in (0, 1, 2):
            path = write_eval_json(res.root / "evals" / f"{mid}-s{seed}" / "arena_hard.json", f"{mid}-s{seed}",
                                   "arena_hard", {"hard_prompts_style_control": style + 0.2 * seed,
                                                  "creative_writing": creative + 0.1 * seed})
            res.eval_paths.append(path)


def test_table3_claim_states_the_papers_exception_and_table2_needs_every_cell(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2), paper_rows=True)
    _arena(res, style_gift=20.0, creative_gift=40.0)  # GIFT behind on 7B style control only: the paper's exception
    md, claims, _ = _report(tmp_path, res)
    assert claims["C6b"]["verdict"] == V.SUPPORTED
    assert "AH style control" in claims["C6b"]["measured"] and "exception" in claims["C6b"]["measured"]
    assert not any("style control" in d["setting"] for d in claims["C6b"]["details"])
    assert claims["C6a"]["verdict"] == V.SUPPORTED and len(claims["C6a"]["details"]) == 7
    # behind on a cell the paper does not except: contradicted
    res2 = synthetic_results(tmp_path / "r2", seeds=(0, 1, 2), paper_rows=True)
    _arena(res2, style_gift=40.0, creative_gift=20.0)
    _, claims2, _ = _report(tmp_path / "r2", res2)
    assert claims2["C6b"]["verdict"] == V.CONTRADICTED


def test_tables_of_rlvr_trained_models_are_shown_not_judged(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2))
    doc = json.loads(res.grid_path.read_text(encoding="utf-8"))
    for e in doc["runs"]:
        if (e.get("model_id") or "").startswith(("tiny-rlhf-gift", "tiny-rlhf-grpo")):
            e.update(figure=[], dataset="math", eval_dataset="math")
    res.grid_path.write_text(json.dumps(doc), encoding="utf-8")
    md, claims, _ = _report(tmp_path, res)
    for cid in ("C6a", "C6b"):
        assert claims[cid]["verdict"] == V.NOT_MEASURED
        assert "RLVR-trained, not the paper's RLHF models" in claims[cid]["measured"]
    assert "### Table 2:" in md  # the rows are still in the table


def test_the_report_prints_the_calibration_it_measured(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2))
    md, _, doc = _report(tmp_path, res)
    assert "### Calibration of the verdict rule, measured" in md
    rows = doc["calibration"]
    assert rows and all(r["seeds"] == 3 and r["sims"] == 200 for r in rows)
    assert f"| 3 | 1 | 200 | {rows[0]['false_decisive_rate']:.1%} |" in md
    assert "detectable (80% power)" in md


# ------------------------------------------------------------------------------------------ calibration


def _scipy_null_rate(seeds: int, sims: int, eval_se: float, effect: float, rng: np.random.Generator) -> float:
    """A second implementation: Welch's test from scipy on independently simulated settings."""
    hits = 0
    for _ in range(sims):
        a = effect + rng.standard_normal(seeds) + eval_se * rng.standard_normal(seeds)
        b = rng.standard_normal(seeds) + eval_se * rng.standard_normal(seeds)
        hits += sps.ttest_ind(a, b, equal_var=False).pvalue < 0.05 and (effect == 0 or a.mean() > b.mean())
    return hits / sims


@pytest.mark.parametrize("seeds", [3, 5])
def test_calibrated_rates_agree_with_an_independent_simulation(seeds):
    sims = 3000
    res = calibrate(seeds, sims, eval_se=0.3, effect=1.5)
    ref_null = _scipy_null_rate(seeds, sims, 0.3, 0.0, np.random.default_rng(11))
    ref_power = _scipy_null_rate(seeds, sims, 0.3, 1.5, np.random.default_rng(12))
    se = math.sqrt(2 * 0.05 * 0.95 / sims)
    assert abs(res["false_decisive_rate"] - ref_null) < 4 * se
    assert res["false_decisive_rate"] <= 0.065
    assert abs(res["power"] - ref_power) < 4 * math.sqrt(2 * 0.25 / sims)


def test_the_old_percentile_rule_would_fail_the_threshold_and_holm_keeps_a_family_at_5_percent():
    # Holm over 6 null settings: the claim is decisive at most 5% of the time (the old 'one supports, none
    # contradicts' rule was decisive about 23% of the time with 6 settings)
    res = calibrate(3, 1500, eval_se=0.3, settings=6)
    assert res["false_decisive_rate"] <= 0.05 + 3 * res["false_decisive_mc_se"]
    # the same family judged setting by setting at 5% each: an independent count with scipy
    rng = np.random.default_rng(5)
    any_decisive = np.mean([any(sps.ttest_ind(rng.standard_normal(3), rng.standard_normal(3),
                                               equal_var=False).pvalue < 0.05 for _ in range(6))
                            for _ in range(1500)])
    assert any_decisive > 0.12  # what the family rule guards against


def test_calibrate_command_ends_with_json_and_fails_above_its_threshold(capsys):
    assert calibrate_cli(["--seeds", "1", "--sims", "300", "--eval-se", "0.3", "--json", "--fail-above", "0"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    doc = json.loads(last)
    assert doc["false_decisive_rate"] == 0.0 and doc["seeds"] == 1 and doc["sims"] == 300
    assert calibrate_cli(["--seeds", "3", "--sims", "300", "--effect", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"false_decisive_rate", "power"} <= set(doc) and doc["power"] > 0.5
    # a threshold below the measured rate fails
    assert calibrate_cli(["--seeds", "3", "--sims", "300", "--fail-above", "-1"]) == 1
    with pytest.raises(ValueError, match="--seeds"):
        calibrate(0, 10)


def test_gift_report_builds_the_report_and_figures_from_what_has_finished(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from gift.cli import main
    from gift.grid import expand, load_config
    from tests.report_fixtures import curve_metrics, saturating, write_run_dir

    config = Path(__file__).resolve().parents[1] / "config" / "smoke.yaml"
    grid = expand(load_config(config))
    monkeypatch.chdir(tmp_path)
    fig3 = [r for r in grid.runs.values() if "fig3" in r.figures and r.method in ("gift", "grpo")]
    finished = {r.run_id for r in fig3[:2]}
    for r in fig3[:2]:
        write_run_dir(grid.run_dir(r.run_id), curve_metrics(20, 5, lambda s: saturating(s, 10, 40, 0.2),
                                                            lambda s: saturating(s, 10, 30, 0.2)), seed=0)
    assert main(["report", "--config", str(config), "--calibration-sims", "0"]) == 0
    assert f"2 of {len(grid.runs)} runs with metrics" in capsys.readouterr().out
    out = tmp_path / grid.results / "partial"
    md = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "checks the plumbing, not the claims" in md
    assert f"from 2 of {len(grid.runs)} training runs with metrics" in md
    missing = md.split("## Not run")[1]
    for rid in grid.runs:
        assert (f"- {rid}: no metrics.jsonl" in missing) == (rid not in finished)
    for name in grid.figures():
        assert (out / "figures" / f"{name}.png").exists()
    assert not (tmp_path / grid.results / "REPORT.md").exists()  # the workflow's own output is left alone
    assert main(["report", "--config", str(tmp_path / "none.yaml")]) == 2


def test_paper_config_keeps_one_seed_and_its_overlay_adds_two_keeping_seed_0s_runs():
    from pathlib import Path

    import yaml

    from gift.grid import expand, load_config, validate

    root = Path(__file__).resolve().parents[1] / "config"
    paper = load_config(root / "paper.yaml")
    assert paper["seeds"] == [0]
    overlay = yaml.safe_load((root / "paper_seeds3.yaml").read_text(encoding="utf-8"))
    assert set(overlay) == {"seeds"}  # Snakemake's merge of a second --configfile changes nothing else
    merged = {**paper, **overlay}
    validate(merged)
    one, three = expand(paper), expand(merged)
    assert len(three.runs) == 3 * len(one.runs)
    assert set(one.runs) <= set(three.runs)


def test_detectable_difference_has_80_percent_power_in_an_independent_simulation():
    from gift.report.stats import Obs as O
    from gift.report.stats import contrast_interval, detectable_difference, seeds_needed

    # 3 seeds per method with seed sd 1 (the observed spread set exactly to it)
    vals = [-1.0, 0.0, 1.0]
    iv = contrast_interval({"a": [O(v) for v in vals], "b": [O(v) for v in vals]}, V.difference("a", "b"))
    mdd = detectable_difference(iv)
    rng = np.random.default_rng(21)
    hits = [sps.ttest_ind(mdd + rng.standard_normal(3), rng.standard_normal(3), equal_var=False) for _ in range(4000)]
    power = np.mean([h.pvalue < 0.05 and h.statistic > 0 for h in hits])
    assert power == pytest.approx(0.8, abs=0.03)
    # in a family of 4 settings the level per setting is 5% / 4: a larger difference is needed
    assert detectable_difference(iv, 0.05 / 4) > 1.2 * mdd
    # seeds for an observed difference of one seed sd: scipy's power at that count is >= 80%, below it < 80%
    one = contrast_interval({"a": [O(v + 1.0) for v in vals], "b": [O(v) for v in vals]}, V.difference("a", "b"))
    n = seeds_needed(one)

    def scipy_power(k: int) -> float:
        r = [sps.ttest_ind(1.0 + rng.standard_normal(k), rng.standard_normal(k), equal_var=False)
             for _ in range(3000)]
        return float(np.mean([h.pvalue < 0.05 and h.statistic > 0 for h in r]))
    assert scipy_power(n) >= 0.77 and scipy_power(n - 2) < 0.8


def test_a_sweep_only_config_points_its_answer_to_the_comparisons_at_the_picks():
    from gift.report.report import answer_markdown

    picks = "- Sweep tiny · gsm8k: GRPO picked learning_rate=1e-05"
    swept = answer_markdown([], sweep_md=picks)
    assert "No setting" not in swept and "Claims at the selected values" in swept and picks in swept
    bare = answer_markdown([])
    assert "No setting of this config has finished GIFT and GRPO runs to compare yet." in bare
