"""The config -> runs/models expansion that the workflow, the estimate and the report share."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from gift import grid as G

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {name: ROOT / "config" / f"{name}.yaml" for name in ("smoke", "tiny", "tiny_sweep", "paper", "node")}


@pytest.fixture(scope="module")
def configs() -> dict[str, dict]:
    return {name: G.load_config(path) for name, path in CONFIGS.items()}


@pytest.fixture(scope="module")
def paper(configs) -> G.Grid:
    return G.expand(configs["paper"])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_is_schema_valid_and_expands(configs, name):
    G.validate(configs[name])
    grid = G.expand(configs[name])
    assert grid.runs and grid.name == name
    for run in grid.runs.values():
        assert run.memberships, run.run_id


def test_fig2_n16_kl_sum_and_fig3_gsm8k_gift_are_one_run(paper):
    runs = [r for r in paper.runs.values()
            if r.backbone == "deepseek-llm-7b-chat" and r.dataset == "gsm8k" and r.method == "gift"]
    shared = [r for r in runs if {"fig2a", "fig2b", "fig3"} <= set(r.figures)]
    assert len(shared) == 1
    run = shared[0]
    assert run.variant["num_generations"] == 16 and run.variant["implicit_aggregation"] == "sum"
    # Fig 2a: N in {1, 2, 4, 8, 16, 32}; Fig 2b adds only kl_average; Fig 3 adds nothing for GIFT on GSM8K;
    # the pi_ref ablation adds one run, and draws the shared run beside it; the first-update ablations add two.
    assert sorted(r.method_args.get("num_generations", 16) for r in runs if "fig2a" in r.figures) == [1, 2, 4, 8, 16, 32]
    assert len(runs) == 10
    assert "fig_reference" in run.figures and run.method_args["implicit_reference"] == "rollout"
    ablation = [r for r in runs if r.method_args.get("implicit_reference") == "reference"]
    assert [r.figures for r in ablation] == [["fig_reference"]]


def test_figure5_follows_the_authors_scripts_and_keeps_the_papers_reading_as_variants(paper):
    runs = {(r.backbone, r.method, r.run_id.endswith("-paper-s0")): r for r in paper.runs.values()
            if r.dataset == "dapo_math"}

    def settings(backbone, method, paper_variant=False):
        run = runs[(backbone, method, paper_variant)]
        args = {**G.method_defaults(method), **run.method_args}
        return (args["learning_rate"], args["max_completion_length"], run.training["max_prompt_length"],
                run.training["num_train_epochs"])

    # examples/gift_trainer/Qwen3-32B/*.slurm: Qwen3-30B-A3B-Base, lr 3e-6, 2048 + 8192 tokens, 1 epoch
    assert paper.config["backbones"]["qwen3-30b-a3b-base"]["hub"] == "Qwen/Qwen3-30B-A3B-Base"
    for method in ("gift", "grpo"):
        assert settings("qwen3-30b-a3b-base", method) == (pytest.approx(3e-6), 8192, 2048, 1)
        # examples/gift_trainer/Qwen2.5-32B/*.slurm: lr 1e-6 for both, responses up to 4096 tokens
        assert settings("qwen2.5-32b", method) == (pytest.approx(1e-6), 4096, 2048, 1)
        # the named variant: the post-trained Qwen3-32B at the MoE scripts' settings
        assert settings("qwen3-32b", method) == (pytest.approx(3e-6), 8192, 2048, 1)
    # the paper's reading for Qwen2.5-32B: lower GRPO rate, a longer schedule
    assert settings("qwen2.5-32b", "grpo", True) == (pytest.approx(3e-7), 4096, 2048, 2)
    assert settings("qwen2.5-32b", "gift", True) == (pytest.approx(1e-6), 4096, 2048, 2)
    # Figure 5 draws the scripts' backbones; the variants are trained and evaluated, drawn in no figure
    fig5 = {r.backbone for r in paper.runs.values() if "fig5" in r.figures}
    assert fig5 == {"qwen3-30b-a3b-base", "qwen2.5-32b"}
    assert runs[("qwen3-32b", "gift", False)].figures == []
    lr = {(r.backbone, r.dataset, r.method): r.method_args["learning_rate"] for r in paper.runs.values()}
    assert lr[("qwen2.5-32b-instruct", "gsm8k", "gift")] == pytest.approx(3e-6)


def test_paper_runs_train_and_evaluate_as_the_author_did(paper):
    """The optimiser (verl's FSDP actor defaults), the evaluation protocol (verl's validation) and no vLLM
    importance-sampling correction, as `gift grid --json` resolves them for every run."""
    from gift.grid.resolved import resolved_runs

    for entry in resolved_runs(paper, world_size=8):
        args, cfg = entry["method_args"], entry["run_config"]
        assert args["lr_scheduler_type"] == "constant" and args["warmup_steps"] == 0, entry["run_id"]
        no_clip = entry["run_id"].endswith("-no_clip-s0")  # the first-update ablation without clipping
        assert args["weight_decay"] == 0.01 and args["max_grad_norm"] == (0.0 if no_clip else 1.0), entry["run_id"]
        assert args.get("vllm_importance_sampling_correction", False) is False, entry["run_id"]
        if cfg.get("eval_every"):
            # test_freq 5 (GFT's experiment: its own 20), counted in rollout batches as verl's trainer steps
            want = 20 if entry["experiments"] == ["gft"] else 5
            assert cfg["cadence_unit"] == "rollout_batch" and cfg["eval_every"] == want, entry["run_id"]
            assert cfg["eval_greedy"] is True and cfg.get("eval_limit") is None, entry["run_id"]
        assert cfg["save_every"] == 20 and cfg["cadence_unit"] == "rollout_batch", entry["run_id"]
    assert paper.config["evaluation"]["rlvr"]["greedy"] is True
    assert paper.config["evaluation"]["rlvr"]["max_new_tokens"] is None
    # the final RLVR evaluation as `gift grid --json` shows it: greedy (no --no-greedy) at the training length
    entries = {e["run_id"]: e for e in resolved_runs(paper, world_size=8)}
    for run_id, tokens in (("qwen3-30b-a3b-base-dapo_math-gift-s0", "8192"), ("qwen2.5-32b-dapo_math-grpo-s0", "4096"),
                           ("deepseek-llm-7b-chat-math-gift-s0", "1024")):
        argv = entries[run_id]["evals"][f"rlvr_{'aime2024' if 'dapo' in run_id else 'math'}"]
        assert "--no-greedy" not in argv and argv[argv.index("--max-new-tokens") + 1] == tokens, argv
        assert "--limit" not in argv


def test_no_vllm_importance_sampling_correction_unless_a_config_asks(configs):
    """TRL turns the correction on by default; every method's resolved settings have it off, and a config's
    method args turn it on for GRPO, DAPO, GSPO or GFT (GIFT's config refuses it: its loss has no ratio)."""
    import dataclasses

    from trl import GRPOConfig

    from gift.grid.resolved import resolved_runs

    trl_default = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}["vllm_importance_sampling_correction"]
    assert trl_default is True
    cfg = copy.deepcopy(configs["node"])
    cfg["methods"]["gspo"] = {"args": {}}
    cfg["experiments"]["rlvr"]["methods"] = ["gift", "grpo", "dapo", "gspo"]
    entries = resolved_runs(G.expand(cfg), world_size=1)
    assert {e["method"] for e in entries} >= {"gift", "grpo", "dapo", "gspo"}
    for entry in entries:
        assert entry["method_args"].get("vllm_importance_sampling_correction", False) is False, entry["run_id"]
    cfg["methods"]["grpo"]["args"]["vllm_importance_sampling_correction"] = True
    turned_on = {e["method"]: e["method_args"] for e in resolved_runs(G.expand(cfg), world_size=1)}
    assert turned_on["grpo"]["vllm_importance_sampling_correction"] is True
    assert turned_on["dapo"]["vllm_importance_sampling_correction"] is False


@pytest.mark.parametrize("name", ["tiny", "paper"])
def test_first_update_ablations_are_runs_of_their_own_beside_the_fig3_run(configs, name):
    """GIFT without clipping (max_grad_norm 0) and with one update per rollout batch (a variant's batch sizes);
    the clipped 4-update run is Figure 3's own run, not a new one."""
    grid = G.expand(configs[name])
    runs = {r.run_id: r for r in grid.runs.values() if "first_update" in [m.experiment for m in r.memberships]}
    by_variant = {next(m.variant_name for m in r.memberships if m.experiment == "first_update"): r
                  for r in runs.values() if r.seed == 0}
    assert set(by_variant) == {"clip", "no_clip", "one_update"}
    clip, no_clip, one = by_variant["clip"], by_variant["no_clip"], by_variant["one_update"]
    assert "fig3" in clip.figures and clip.training["rollout_batch_prompts"] == 4 * clip.training[
        "optimizer_batch_prompts"]
    assert no_clip.method_args["max_grad_norm"] == 0.0 and no_clip.training == clip.training
    assert one.training["rollout_batch_prompts"] == one.training["optimizer_batch_prompts"]
    assert one.training["optimizer_batch_prompts"] == clip.training["optimizer_batch_prompts"]
    assert "fig_first_update" in grid.figures()
    entry = next(e for e in G.grid_entries(grid) if e["run_id"] == one.run_id)
    assert entry["batch"] == {"updates_per_rollout_batch": 1}


def test_gft_tau_per_backbone(paper):
    tau = {r.backbone: r.method_args.get("gft_tau") for r in paper.runs.values() if r.method == "gft"}
    assert tau == {"qwen2.5-math-1.5b": 0.1, "qwen2.5-math-7b": 0.5, "deepseek-math-7b-instruct": 0.5,
                   "llama-3.2-3b-instruct": 0.5}
    assert all(r.eval_dataset == "math" for r in paper.runs.values() if r.dataset == "numina_distill")


def test_paper_table_rows_are_the_papers_rows(paper):
    from gift.report.paper_values import load_paper_values

    rows = {t: set(v.rows) for t, v in load_paper_values().items()}
    ours = {m.paper_row for m in paper.models.values() if m.paper_row}
    assert ours == {"7B-Instruct", "7B-GRPO", "7B-GIFT", "32B-Instruct", "32B-GRPO", "32B-GIFT"}
    assert ours <= rows["table2"] and ours <= rows["table3"]
    base = [m for m in paper.models.values() if m.run_id is None]
    assert sorted(m.backbone for m in base) == ["qwen2.5-32b-instruct", "qwen2.5-7b-instruct"]


def test_smoke_and_tiny_models_claim_no_paper_row(configs):
    for name in ("smoke", "tiny"):
        grid = G.expand(configs[name])
        assert all(m.paper_row is None for m in grid.models.values())


def test_tiny_has_three_seeds_per_setting(configs):
    grid = G.expand(configs["tiny"])
    settings: dict[tuple, set] = {}
    for r in grid.runs.values():
        key = (r.backbone, r.dataset, r.method, json.dumps(r.method_args, sort_keys=True))
        settings.setdefault(key, set()).add(r.seed)
    assert settings and all(seeds == {0, 1, 2} for seeds in settings.values())


def test_same_run_id_with_different_settings_is_an_error(configs):
    cfg = copy.deepcopy(configs["smoke"])
    cfg["experiments"]["fig4"]["method_args"] = {"learning_rate": 0.5}
    with pytest.raises(G.ConfigError, match=r"experiments\.fig4.*tiny-gsm8k-gift-s0"):
        G.expand(cfg)


def test_unknown_backbone_names_the_key_path(configs):
    cfg = copy.deepcopy(configs["smoke"])
    cfg["experiments"]["fig3"]["backbones"] = ["no-such-model"]
    with pytest.raises(G.ConfigError, match=r"experiments\.fig3\.backbones: unknown backbone 'no-such-model'"):
        G.expand(cfg)


def test_backbone_built_without_an_eval_split_is_a_config_error(configs):
    # The warm start is checked on an RLVR eval split; DAPO-Math has only a train split.
    cfg = copy.deepcopy(configs["smoke"])
    cfg["backbones"]["tiny"]["build"]["data"] = ["dapo_math", "infinity_instruct"]
    with pytest.raises(G.ConfigError, match=r"backbones\.tiny\.build\.data: .*none of"):
        G.expand(cfg)
    cfg["backbones"]["tiny"]["build"]["data"] = ["dapo_math", "aime2024"]
    G.expand(cfg)


def test_paper_config_scores_each_dataset_with_the_rule_verl_routes_it_to(configs):
    rewards = {name: d["reward"] for name, d in configs["paper"]["datasets"].items()}
    assert rewards == {"gsm8k": "gsm8k", "math": "math", "dapo_math": "dapo", "aime2024": "dapo",
                       "infinity_instruct": "reward_model", "numina_distill": "math_verify"}
    grid = G.expand(configs["paper"])
    aime = [r for r in grid.runs if "-dapo_math-" in r]
    assert aime and {G.run_config(grid, r)["reward"] for r in aime} == {"dapo"}


def test_a_reward_that_cannot_score_a_dataset_is_a_config_error(configs):
    cfg = copy.deepcopy(configs["smoke"])
    cfg["datasets"]["aime2024"]["reward"] = "reward_model"
    with pytest.raises(G.ConfigError, match=r"datasets\.aime2024\.reward: .*needs a verifiable reward"):
        G.expand(cfg)
    cfg["datasets"]["aime2024"]["reward"] = "dapo_verify"
    G.expand(cfg)


def test_schema_error_names_key_path_and_reason(configs):
    cfg = copy.deepcopy(configs["smoke"])
    cfg["training"]["max_steps"] = "two"
    cfg["datasets"]["gsm8k"]["source"] = "ftp"
    with pytest.raises(G.ConfigError) as err:
        G.validate(cfg)
    text = str(err.value)
    assert "training.max_steps: 'two' is not of type 'integer'" in text
    assert "datasets.gsm8k.source: 'ftp' is not one of" in text


def test_run_configs_are_accepted_by_gift_train(configs):
    from gift.run.config import RunConfig

    grid = G.expand(configs["smoke"])
    for run_id in grid.runs:
        rc = G.run_config(grid, run_id)
        assert rc["output_dir"] == f"results/smoke/runs/{run_id}"
        RunConfig.from_dict(copy.deepcopy(rc), source=run_id)


def test_run_config_of_an_rlhf_run_points_at_its_reward_model(configs, tmp_path):
    grid = G.expand(configs["smoke"])
    path = tmp_path / "run.yaml"
    G.write_run_config(grid, "tiny-infinity_instruct-gift-s0", path)
    rc = yaml.safe_load(path.read_text())
    assert rc["reward"] == "reward_model" and rc["reward_model"] == "results/smoke/models/tiny-rm"
    assert rc["model"] == "results/smoke/models/tiny" and rc["eval_data"] is None
    assert rc["train_data"] == "results/smoke/data/infinity_instruct/train.jsonl"


def test_grid_json_is_what_the_report_reads(configs, tmp_path):
    from gift.report.inputs import expected_runs, load_grid

    grid = G.expand(configs["paper"])
    path = tmp_path / "grid.json"
    G.write_grid_json(grid, path)
    entries = load_grid(path)
    for fig in grid.figures():
        assert sorted(e["run_id"] for e in expected_runs(entries, fig)) == sorted(grid.figure_runs(fig))
    labelled = {e["model_label"] for e in entries if e.get("model_id")}
    assert {"7B-GIFT", "32B-Instruct"} <= labelled
    fig5 = [e for e in entries if e.get("run_id") and "fig5" in e["figure"]]
    assert {e["panel"] for e in fig5} == {"qwen3-30b-a3b-base", "qwen2.5-32b"}


# ---- GPUs per job and optional evaluation sections --------------------------------------------------


def test_job_gpus_cpu_zero_accelerate_processes_and_explicit_counts(configs, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # accelerate paths are relative to the workflow's directory
    paper = configs["paper"]
    # paper backbones: the cluster.resources row of their size (8 GPUs to train, 1 or 2 to evaluate), which
    # agrees with their accelerate configs' num_processes
    for b in paper["backbones"]:
        n = yaml.safe_load((ROOT / paper["backbones"][b]["accelerate"]).read_text())["num_processes"]
        assert G.job_gpus(paper, b, "train") == n == 8
        assert G.job_gpus(paper, b, "eval") == (2 if paper["backbones"][b]["params_b"] > 8.5 else 1)
    no_rows = copy.deepcopy(paper)
    no_rows.pop("cluster", None)
    assert {G.job_gpus(no_rows, b, "eval") for b in paper["backbones"]} == {1}
    smoke = configs["smoke"]
    assert {G.job_gpus(smoke, b, r) for b in smoke["backbones"] for r in ("train", "eval")} == {0}
    cfg = copy.deepcopy(no_rows)
    cfg["backbones"]["qwen3-32b"]["gpus"] = {"train": 4, "eval": 2}
    assert (G.job_gpus(cfg, "qwen3-32b", "train"), G.job_gpus(cfg, "qwen3-32b", "eval")) == (4, 2)
    G.validate(cfg)
    cfg["backbones"]["qwen3-32b"]["accelerate"] = str(tmp_path / "missing.yaml")
    assert G.job_gpus(cfg, "qwen3-32b", "train") == 4  # an explicit count wins without reading the file
    with pytest.raises(G.ConfigError, match="backbones.qwen2.5-32b.accelerate"):
        cfg["backbones"]["qwen2.5-32b"]["accelerate"] = str(tmp_path / "missing.yaml")
        G.job_gpus(cfg, "qwen2.5-32b", "train")


def test_multi_gpu_training_without_a_launcher_is_a_config_error(configs):
    cfg = copy.deepcopy(configs["smoke"])
    cfg["device"] = "gpu"
    cfg["evals_per_job"] = 1  # grouped evaluations are for CPU configs
    cfg["runs_per_job"] = 1  # and so are several runs per process
    b = next(iter(cfg["backbones"]))
    cfg["backbones"][b]["gpus"] = {"train": 2}
    with pytest.raises(G.ConfigError, match=rf"backbones\.{b}\.gpus\.train: 2 GPUs per training run need"):
        G.expand(cfg)
    cfg["backbones"][b]["gpus"] = {"train": 1, "eval": 3}
    assert G.job_gpus(cfg, b, "eval") == 3 and G.expand(cfg).runs
    cfg["backbones"][b]["gpus"] = {"train": 0}
    with pytest.raises(G.ConfigError, match="gpus.train"):
        G.validate(cfg)


@pytest.mark.parametrize("kind", ["lm_eval", "alpaca_eval", "arena_hard"])
def test_a_config_without_an_evaluation_section_skips_only_that_kind(configs, kind):
    full = G.expand(configs["tiny"])
    cfg = copy.deepcopy(configs["tiny"])
    del cfg["evaluation"][kind]
    G.validate(cfg)
    grid = G.expand(cfg)
    assert grid.skipped_evals() == {kind: ["fig6"]} and full.skipped_evals() == {}
    kept = [t for t in full.eval_targets() if t[1] != kind]
    assert len(kept) < len(full.eval_targets())
    assert grid.eval_targets() == kept
    assert set(grid.runs) == set(full.runs)


def test_tiny_trains_its_runs_nine_to_a_job_and_every_run_in_exactly_one_job(configs):
    grid = G.expand(configs["tiny"])
    assert configs["tiny"]["runs_per_job"] == 9
    jobs = grid.train_jobs
    members = [r for runs in jobs.values() for r in runs]
    assert sorted(members) == sorted(grid.runs), "every run in one job, none twice"
    # 42 + 18 + 6 runs on tiny-a, tiny-b, tiny-c, and 6 + 6 with the reward model: 4 + 2 jobs of 9, 4 of 6
    assert sorted(len(runs) for runs in jobs.values()) == [6, 6, 6, 6] + [9] * 6
    for job_id, runs in jobs.items():
        assert job_id == f"{runs[0]}+{len(runs) - 1}" and all(grid.train_job(r) == job_id for r in runs)
        assert grid.train_done(job_id) == f"results/tiny/train_jobs/{job_id}.done"


def test_a_config_without_runs_per_job_has_one_run_per_job(paper):
    assert paper.train_jobs == {r: [r] for r in paper.runs}


def test_runs_of_a_job_share_backbone_and_reward_model_and_keep_the_grid_order(configs):
    cfg = copy.deepcopy(configs["tiny"])
    cfg["runs_per_job"] = 5
    grid = G.expand(cfg)
    order = list(grid.runs)
    by_shared: dict[tuple, list[list[str]]] = {}
    for runs in grid.train_jobs.values():
        keys = {(grid.runs[r].backbone, grid.runs[r].reward_model) for r in runs}
        assert len(keys) == 1, runs
        assert runs == sorted(runs, key=order.index)
        by_shared.setdefault(keys.pop(), []).append(runs)
    # per backbone and reward model: every job full but the last
    assert len(by_shared) == 5  # tiny-a, tiny-b, tiny-c; tiny-a and tiny-b with tiny-rm (Fig 6)
    for jobs in by_shared.values():
        assert all(len(runs) == 5 for runs in jobs[:-1]) and 1 <= len(jobs[-1]) <= 5
    assert sum(len(j) for jobs in by_shared.values() for j in jobs) == len(order)


@pytest.mark.parametrize(("field", "config", "message"), [
    # several runs per process only without `accelerate launch` (one launch per run)
    ("runs_per_job", "rehearsal", r"runs_per_job: 2, but backbones\.\S+ is trained under accelerate"),
    # several evaluations per process only on CPU configs
    ("evals_per_job", "paper", r"evals_per_job: 2 on a gpu config"),
])
def test_jobs_of_several_runs_or_evaluations_where_a_process_cannot_hold_them_are_a_config_error(
        field, config, message):
    cfg = G.load_config(ROOT / "config" / f"{config}.yaml")
    assert G.expand(cfg).runs
    cfg[field] = 2
    with pytest.raises(G.ConfigError, match=message):
        G.expand(cfg)
    cfg[field] = 0
    with pytest.raises(G.ConfigError, match=field):
        G.validate(cfg)


def test_eval_jobs_run_every_evaluation_once_on_one_backbone_each(configs):
    grid = G.expand(configs["tiny"])
    assert grid.grouped_evals and configs["tiny"]["evals_per_job"] == 8
    jobs = grid.eval_jobs
    members = [t for targets in jobs.values() for t in targets]
    assert sorted(members) == sorted(grid.eval_targets()), "every evaluation in one job, none twice"
    by_backbone: dict[str, list[list]] = {}
    for job_id, targets in jobs.items():
        backbones = {grid.models[m].backbone for m, _ in targets}
        assert len(backbones) == 1, targets
        by_backbone.setdefault(backbones.pop(), []).append(targets)
        assert job_id == f"{targets[0][0]}.{targets[0][1]}+{len(targets) - 1}"
        assert all(grid.eval_job(m, e) == job_id for m, e in targets)
        assert grid.eval_done(job_id) == f"results/tiny/eval_jobs/{job_id}.done"
    # tiny-a: 7 RLHF models x 3 evals + 9 GFT-experiment pass@1 = 30; tiny-b: 7 x 3 = 21
    assert {b: sum(map(len, js)) for b, js in by_backbone.items()} == {"tiny-a": 30, "tiny-b": 21}
    for js in by_backbone.values():
        assert all(len(t) == 8 for t in js[:-1]) and 1 <= len(js[-1]) <= 8
        # the untrained backbone's evaluations first (they need no training), then by training job
        flat = [t for targets in js for t in targets]
        train_jobs = list(grid.train_jobs)
        ranks = [-1 if grid.models[m].run_id is None else train_jobs.index(grid.train_job(grid.models[m].run_id))
                 for m, _ in flat]
        assert ranks == sorted(ranks)


def test_one_evaluation_per_job_without_evals_per_job(paper):
    assert not paper.grouped_evals
    assert all(len(targets) == 1 for targets in paper.eval_jobs.values())
    assert sorted(t for targets in paper.eval_jobs.values() for t in targets) == sorted(paper.eval_targets())


def test_eval_arguments_carry_the_config_settings_of_their_kind(configs, tmp_path):
    from gift.grid import evals as grid_evals

    grid = G.expand(configs["tiny"])
    base = "tiny-a-base"
    evaluation = configs["tiny"]["evaluation"]

    def flags(argv):
        return {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("--")}

    alpaca = grid_evals.eval_argv(grid, base, "alpaca_eval")
    assert alpaca[0] == "alpaca" and flags(alpaca) == {
        "--model": "results/tiny/models/tiny-a", "--model-id": base,
        "--instructions": evaluation["alpaca_eval"]["instructions"], "--judge": "reward-model:results/tiny/models/tiny-rm",
        "--out": f"results/tiny/evals/{base}/alpaca_eval.json", "--limit": "32", "--max-new-tokens": "48"}
    lm = grid_evals.eval_argv(grid, base, "lm_eval")
    assert lm[0] == "lm-eval" and flags(lm)["--tasks"] == "twins:results/tiny/lm_eval_twins"
    assert flags(lm)["--batch-size"] == str(evaluation["lm_eval"]["batch_size"])
    assert flags(lm)["--limit"] == str(evaluation["lm_eval"]["limit"]) and flags(lm)["--device"] == "cpu"
    model = next(m for m, e in grid.eval_targets() if e == "rlvr_math")
    rlvr = grid_evals.eval_argv(grid, model, "rlvr_math")
    assert flags(rlvr) == {"--model": f"results/tiny/runs/{grid.models[model].run_id}/final", "--model-id": model,
                           "--data": "results/tiny/data/math/test.jsonl",
                           "--out": f"results/tiny/evals/{model}/rlvr_math.json", "--k": "4", "--temperature": "1.0",
                           "--max-new-tokens": "64", "--limit": "64"}
    # an untrained hub backbone is passed with its pinned revision
    hub = G.expand(configs["paper"])
    untrained = next(m for m in hub.models.values() if m.run_id is None)
    spec = configs["paper"]["backbones"][untrained.backbone]
    argv = grid_evals.eval_argv(hub, untrained.model_id, untrained.evals[0])
    assert flags(argv)["--model"] == f"{spec['hub']}@{spec['revision']}"


def test_job_files_are_rewritten_only_when_their_content_changes(configs, tmp_path, monkeypatch):
    """Run configs and grouped eval job files keep their modification time while what they say is unchanged."""
    from gift.grid import evals as grid_evals

    monkeypatch.chdir(tmp_path)
    cfg = copy.deepcopy(configs["tiny"])
    grid = G.expand(cfg)
    run_id, job_id = next(iter(grid.runs)), next(iter(grid.eval_jobs))
    run_path, job_path = tmp_path / "RUN.yaml", Path(grid.eval_job_file(job_id))
    assert G.write_run_config(grid, run_id, run_path, only_if_changed=True)
    assert grid_evals.write_eval_job(grid, job_id, only_if_changed=True)
    stamps = run_path.stat().st_mtime_ns, job_path.stat().st_mtime_ns
    assert not G.write_run_config(grid, run_id, run_path, only_if_changed=True)
    assert not grid_evals.write_eval_job(grid, job_id, only_if_changed=True)
    assert (run_path.stat().st_mtime_ns, job_path.stat().st_mtime_ns) == stamps
    assert G.write_run_config(grid, run_id, run_path)  # without only_if_changed: always written
    cfg["training"]["max_steps"] = 61
    cfg["evaluation"]["alpaca_eval"]["limit"] = 31
    changed = G.expand(cfg)
    assert G.write_run_config(changed, run_id, run_path, only_if_changed=True)
    assert yaml.safe_load(run_path.read_text())["max_steps"] == 61
    assert grid_evals.write_eval_job(changed, job_id, only_if_changed=True)
    assert "31" in json.loads(job_path.read_text())["evals"][1]["argv"]


def test_several_runs_in_one_process_on_a_gpu_config_are_a_config_error():
    # node.yaml trains without accelerate: each run of a shared process would start its own colocated vLLM engine
    cfg = G.load_config(ROOT / "config" / "node.yaml")
    assert G.expand(cfg).runs
    cfg["runs_per_job"] = 2
    with pytest.raises(G.ConfigError, match=r"runs_per_job: 2 on a gpu config: each run would start its own"):
        G.expand(cfg)
