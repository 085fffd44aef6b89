"""Sweeps: the grid expansion and its checks, the selection split, the selection rule on metrics with a known
best, the sweep figure and the report's section at the selected values."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gift import grid as G
from gift.data.prepare import prepare
from gift.files import read_jsonl, write_json
from gift.report import sweep as SW
from gift.report.cli import figure_main, report_main
from gift.report.inputs import Run
from gift.report.verdicts import CONTRADICTED, SUPPORTED
from tests.report_fixtures import write_run_dir

ROOT = Path(__file__).resolve().parent.parent
VALUES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]


@pytest.fixture(scope="module")
def sweep_config() -> dict:
    return G.load_config(ROOT / "config" / "tiny_sweep.yaml")


def test_tiny_sweep_expands_to_every_point_of_every_method_with_every_seed(sweep_config):
    G.validate(sweep_config)
    grid = G.expand(sweep_config)
    arms: dict[str, dict[float, list[int]]] = {}
    for run in grid.runs.values():
        arms.setdefault(run.sweep["arm"], {}).setdefault(run.sweep["value"], []).append(run.seed)
    assert set(arms) == {"gift-rollout", "gift-reference", "grpo"}
    for arm, by_value in arms.items():
        assert sorted(by_value) == VALUES, arm  # >= 5 log-spaced values, the same for every method
        assert all(sorted(s) == [0, 1, 2, 3, 4] for s in by_value.values()), arm
    assert len(grid.runs) == 3 * 5 * 5
    run = grid.runs["tiny-a-gsm8k-gift-rollout-lr3e-05-s1"]
    assert run.method_args["learning_rate"] == 3e-5 and run.method_args["implicit_reference"] == "rollout"
    assert run.sweep["default"] == 3e-4  # the unswept rate of the config, kept for the comparison
    grpo = grid.runs["tiny-a-gsm8k-grpo-lr0.0001-s0"]
    assert "implicit_reference" not in grpo.method_args and grpo.sweep["default"] == 1e-4
    rc = G.run_config(grid, run.run_id)
    assert rc["selection_data"] == "results/tiny_sweep/data/gsm8k/selection.jsonl"
    assert rc["eval_data"] == "results/tiny_sweep/data/gsm8k/test.jsonl"
    entry = next(e for e in G.grid_entries(grid) if e["run_id"] == run.run_id)
    # seeds 0-2 pick the rates, seeds 3 and 4 confirm them
    assert entry["sweep"]["select"] == {"metric": "selection_pass@1", "last": pytest.approx(1 / 3), "by": "mean",
                                        "seeds": [0, 1, 2]}
    from gift.run.config import RunConfig

    RunConfig.from_dict(copy.deepcopy(rc), source=run.run_id)


def _sweep_cfg(sweep_config, **change) -> dict:
    cfg = copy.deepcopy(sweep_config)
    cfg["experiments"]["sweep_lr"]["sweep"].update(change)
    return cfg


def test_unequal_budgets_and_missing_selection_splits_are_config_errors(sweep_config):
    cfg = _sweep_cfg(sweep_config, values={"gift": VALUES, "grpo": VALUES[:4]})
    with pytest.raises(G.ConfigError, match=r"experiments.sweep_lr.sweep.values: every method needs the same "
                                            r"number of sweep points"):
        G.expand(cfg)
    with pytest.raises(G.ConfigError, match=r"missing \['grpo'\]"):
        G.expand(_sweep_cfg(sweep_config, values={"gift": VALUES}))
    cfg = copy.deepcopy(sweep_config)
    del cfg["datasets"]["gsm8k"]["selection"]
    with pytest.raises(G.ConfigError, match=r"datasets.gsm8k.selection: experiment 'sweep_lr' sweeps"):
        G.expand(cfg)
    cfg = copy.deepcopy(sweep_config)
    cfg["experiments"]["sweep_lr"]["variants"][0]["args"]["learning_rate"] = 1e-4
    with pytest.raises(G.ConfigError, match=r"variants.rollout: sets the swept argument 'learning_rate'"):
        G.expand(cfg)
    cfg = copy.deepcopy(sweep_config)
    cfg["experiments"]["sweep_lr"]["sweep"]["values"] = [1e-4, -1.0]
    with pytest.raises(G.ConfigError, match="sweep.values"):
        G.validate(cfg)
    # per-method values with equal counts are fine (each method's own range)
    ok = G.expand(_sweep_cfg(sweep_config, values={"gift": [1e-4, 3e-4, 1e-3], "grpo": [3e-5, 1e-4, 3e-4]}))
    assert len(ok.runs) == 3 * 3 * 5


def test_a_sweep_of_beta_or_n_expands_the_same_way(sweep_config):
    cfg = copy.deepcopy(sweep_config)
    exp = cfg["experiments"]["sweep_lr"]
    exp["methods"] = ["gift"]
    exp["sweep"] = {"arg": "gift_beta", "values": [0.5, 1.0, 2.0]}
    grid = G.expand(cfg)
    assert sorted({r.method_args["gift_beta"] for r in grid.runs.values()}) == [0.5, 1.0, 2.0]
    assert "tiny-a-gsm8k-gift-rollout-beta0.5-s0" in grid.runs


def test_selection_split_is_held_out_of_training(tmp_path):
    summary = prepare("gsm8k", "synthetic", tmp_path, limits={"test": 16}, selection=24)
    train, sel, test = (read_jsonl(tmp_path / f"{s}.jsonl") for s in ("train", "selection", "test"))
    assert len(sel) == 24 and summary["splits"]["selection"]["examples"] == 24
    assert len(train) == summary["splits"]["train"]["examples"]
    problems = {json.dumps(e["prompt"]) for e in train}
    assert not problems & {json.dumps(e["prompt"]) for e in sel}
    assert not {json.dumps(e["prompt"]) for e in test} & {json.dumps(e["prompt"]) for e in sel}
    with pytest.raises(ValueError, match="--selection 5000 needs a train split of more than 5000"):
        prepare("gsm8k", "synthetic", tmp_path / "x", selection=5000)


# -------------------------------------------------------------------------------- synthetic sweep


def _curve(final: float) -> list[float]:
    """Values at steps 0, 10, ..., 60 rising linearly from 30 to `final`."""
    return [30 + (final - 30) * i / 6 for i in range(7)]


# Peaks mid-training and ends low: a rule on the whole curve or its best point would pick it.
TRAP = [30.0, 60.0, 90.0, 90.0, 20.0, 20.0, 20.0]


def synthetic_sweep(root: Path, sel_best: dict[str, float], eval_gap: float = 10.0, seeds=(0, 1, 2),
                    trap: dict[str, float] | None = None, select_seeds=None) -> tuple[Path, dict[str, Path]]:
    """Runs of a sweep whose selection-split curves peak at `sel_best[arm]` (a bell in log10 of the value).

    At the selected values GIFT's eval pass@1 beats GRPO's by `eval_gap` points. `trap[arm]` is a value whose
    selection curve peaks mid-training and ends low: the last-third rule must not pick it.
    """
    grid, dirs = [], {}
    defaults = {"gift-rollout": 3e-4, "gift-reference": 3e-4, "grpo": 1e-4}
    for arm, best in sel_best.items():
        method = arm.split("-")[0]
        for v in VALUES:
            dist = abs(math.log10(v) - math.log10(best))
            sel_final = 60 - 20 * dist
            ev_final = sel_final + (eval_gap / 2 if method == "gift" else -eval_gap / 2)
            for seed in seeds:
                rid = f"{arm}-{v:g}-s{seed}"
                if trap and trap.get(arm) == v:
                    sel = TRAP
                else:
                    sel = _curve(sel_final + 0.5 * seed)
                ev = _curve(ev_final + 0.5 * seed)
                rows = [{"step": 10 * i, "eval_pass@1": e, "eval_pass@1_stderr": 1.0, "eval_n": 64,
                         "selection_pass@1": s, "selection_pass@1_stderr": 1.0, "selection_n": 64}
                        for i, (e, s) in enumerate(zip(ev, sel, strict=True))]
                dirs[rid] = write_run_dir(root / "runs" / rid, rows, config={"method": method}, seed=seed)
                grid.append({"run_id": rid, "figure": ["fig_sweep"], "backbone": "tiny-a",
                             "backbone_label": "tiny-a", "dataset": "gsm8k", "eval_dataset": "gsm8k",
                             "method": method, "variant": {"learning_rate": v}, "seed": seed,
                             "sweep": {"experiment": "sweep_lr", "arg": "learning_rate", "value": v,
                                       "default": defaults[arm], "arm": arm,
                                       "select": {"metric": "selection_pass@1", "last": 1 / 3, "by": "mean",
                                                  **({"seeds": select_seeds} if select_seeds else {})}},
                             "model_id": None, "evals": {}})
    write_json(root / "grid.json", {"config": "synthetic", "runs": grid})
    return root / "grid.json", dirs


def _runs(grid_path: Path, dirs: dict[str, Path]) -> list[Run]:
    from gift.report.inputs import load_grid, load_runs

    return load_runs(list(dirs.values()), load_grid(grid_path))


def test_selection_picks_the_known_best_on_the_selection_split(tmp_path):
    best = {"gift-rollout": 1e-4, "gift-reference": 1e-3, "grpo": 3e-5}
    grid_path, dirs = synthetic_sweep(tmp_path, best, trap={"grpo": 1e-3})
    (s,) = SW.sweep_settings(_runs(grid_path, dirs))
    assert {a: sel.selected for a, sel in s.arms.items()} == best
    # the score is the mean over seeds of each run's mean over steps 40, 50, 60 (the last third of 60 steps);
    # the curves are linear in the seed offset, so the seed mean is the curve of the mean final, 60.5
    f = 60 + 0.5
    expected = np.mean([30 + (f - 30) * x for x in (4 / 6, 5 / 6, 1.0)])
    assert s.arms["grpo"].scores[3e-5][0] == pytest.approx(expected)
    assert s.arms["grpo"].scores[3e-5][1] == 3
    # the trap peaks at 90 mid-training but ends at 20: the last-third rule scores it 20
    assert s.arms["grpo"].scores[1e-3][0] == pytest.approx(20.0)
    assert not s.problems


def test_unequal_budget_in_the_results_is_reported(tmp_path):
    grid_path, dirs = synthetic_sweep(tmp_path, {"gift-rollout": 1e-4, "grpo": 1e-4})
    dirs = {k: v for k, v in dirs.items() if k != "grpo-0.001-s2"}
    (s,) = SW.sweep_settings(_runs(grid_path, dirs))
    assert s.problems and "unequal tuning budgets" in s.problems[0]


@pytest.mark.parametrize("gap,expected", [(10.0, SUPPORTED), (-10.0, CONTRADICTED)])
def test_claims_are_judged_at_the_selected_values_beside_the_unswept_ones(tmp_path, gap, expected):
    best = {"gift-rollout": 1e-4, "gift-reference": 1e-3, "grpo": 3e-5}
    grid_path, dirs = synthetic_sweep(tmp_path, best, eval_gap=gap)
    out = tmp_path / "REPORT.md"
    assert report_main(["--config-name", "synthetic", "--grid", str(grid_path), "--runs",
                        *map(str, dirs.values()), "--evals", "--out", str(out)]) == 0
    md = out.read_text(encoding="utf-8")
    assert "## Sweeps: each method at its best value" in md
    assert "tiny-a · gsm8k: GIFT (rollout) at learning_rate=0.0001 vs GRPO at 3e-05" in md
    assert "tiny-a · gsm8k: GIFT (reference) at learning_rate=0.001 vs GRPO at 3e-05" in md
    doc = json.loads(out.with_suffix(".claims.json").read_text(encoding="utf-8"))
    at = {c["cid"]: c for c in doc["claims_at_selected"]}
    assert at["C7"]["verdict"] == expected and at["C7"]["counts"][expected] == 2
    # the final eval difference at the picks is the constructed gap
    assert at["C7"]["details"][0]["difference"] == pytest.approx(gap, abs=1e-6)
    assert {c["cid"] for c in doc["claims_at_unswept"]} == {"C1", "C7"}
    unswept = doc["claims_at_unswept"][1]["details"][0]["setting"]
    assert "at learning_rate=0.0003 vs GRPO at 0.0001" in unswept
    arms = doc["sweeps"][0]["arms"]
    assert arms["grpo"]["selected"] == 3e-5 and arms["grpo"]["unswept"] == 1e-4


def test_sweep_figure_draws_every_method_on_a_log_axis(tmp_path):
    best = {"gift-rollout": 1e-4, "gift-reference": 1e-3, "grpo": 3e-5}
    grid_path, dirs = synthetic_sweep(tmp_path, best)
    prefix = tmp_path / "figures" / "fig_sweep"
    assert figure_main(["--config-name", "synthetic", "--grid", str(grid_path), "--runs",
                        *map(str, dirs.values()), "--out", str(prefix)], "fig_sweep") == 0
    png = prefix.with_name("fig_sweep.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    rec = json.loads(prefix.with_name("fig_sweep.provenance.json").read_text(encoding="utf-8"))
    (setting,) = rec["settings"]
    assert {s["arm"]: s["selected"] for s in setting["series"]} == best
    grpo = next(s for s in setting["series"] if s["arm"] == "grpo")
    p = grpo["points"][0]  # 1e-5: three seeds at final - 5 + 0.5 * seed
    finals = [60 - 20 * math.log10(3) - 5 + 0.5 * s for s in (0, 1, 2)]
    from scipy import stats

    assert p["mean"] == pytest.approx(np.mean(finals))
    assert p["half_width_95"] == pytest.approx(stats.t.ppf(0.975, 2) * np.std(finals, ddof=1) / math.sqrt(3))
    cap = prefix.with_name("fig_sweep.rst").read_text(encoding="utf-8")
    assert "95% t interval over seeds" in cap


def test_sweep_figure_axes_are_log_scaled_and_labelled(tmp_path):
    best = {"gift-rollout": 1e-4, "grpo": 3e-5}
    grid_path, dirs = synthetic_sweep(tmp_path, best)
    res = SW.sweep_figure(_runs(grid_path, dirs), "synthetic")
    (ax,) = res.fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning_rate (log scale)" and ax.get_ylabel() == "final eval pass@1 (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["GIFT (rollout)", "GRPO"]
    assert "Sweep of learning_rate" in res.fig.get_suptitle()


def test_picks_are_made_on_the_picking_seeds_and_confirmed_on_the_others(tmp_path):
    best = {"gift-rollout": 1e-4, "grpo": 3e-5}
    grid_path, dirs = synthetic_sweep(tmp_path, best, seeds=(0, 1, 2, 3, 4), select_seeds=[0, 1, 2])
    # seeds 3 and 4 score 99 on the selection split at GRPO's 1e-5: counted, they would move its pick there
    for seed in (3, 4):
        d = dirs[f"grpo-1e-05-s{seed}"]
        rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        write_run_dir(d, [{**r, "selection_pass@1": 99.0} for r in rows], config={"method": "grpo"}, seed=seed)
    runs = _runs(grid_path, dirs)
    (s,) = SW.sweep_settings(runs)
    assert {a: sel.selected for a, sel in s.arms.items()} == best
    assert s.arms["grpo"].scores[3e-5][1] == 3  # three picking seeds per value
    assert not any("winner's curse" in f for f in s.flags)
    at = SW.sweep_claims([s])
    (row,) = at[SW.SELECTED][1].details
    assert row["setting"].endswith("(confirmed on seeds 3, 4)")
    assert row["GIFT seeds"] == row["GRPO seeds"] == 2
    # the unswept comparison keeps every seed
    assert at[SW.UNSWEPT][1].details[0]["GIFT seeds"] == 5


def test_picks_judged_on_their_own_runs_and_picks_at_the_edge_are_flagged(tmp_path):
    grid_path, dirs = synthetic_sweep(tmp_path, {"gift-rollout": 1e-3, "grpo": 1e-5})
    (s,) = SW.sweep_settings(_runs(grid_path, dirs))
    assert s.arms["gift-rollout"].edge and s.arms["grpo"].edge
    assert any("GIFT (rollout): the pick learning_rate=0.001 is the largest swept value" in f for f in s.flags)
    assert any("GRPO: the pick learning_rate=1e-05 is the smallest swept value" in f for f in s.flags)
    assert any("winner's curse" in f for f in s.flags)
    (inner,) = SW.sweep_settings(_runs(*synthetic_sweep(tmp_path / "inner", {"gift-rollout": 1e-4, "grpo": 3e-5})))
    assert not any(a.edge for a in inner.arms.values())
    md = SW.sweep_markdown([s], SW.sweep_claims([s]))
    assert "the best value may lie beyond the range" in md


def test_selection_seeds_must_leave_seeds_to_confirm(sweep_config):
    cfg = copy.deepcopy(sweep_config)
    sweep = cfg["experiments"]["sweep_lr"]["sweep"]
    sweep.setdefault("select", {})["seeds"] = list(cfg["experiments"]["sweep_lr"].get("seeds", cfg["seeds"]))
    with pytest.raises(G.ConfigError, match="none is left to confirm"):
        G.expand(cfg)
    sweep["select"]["seeds"] = [0, 99]
    with pytest.raises(G.ConfigError, match=r"select.seeds: \[99\] are not seeds"):
        G.expand(cfg)
