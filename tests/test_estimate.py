"""`gift estimate`: GPU-hours from token counts and model FLOPs, checked against a hand computation."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gift import estimate as E
from gift import grid as G

PAPER = Path(__file__).resolve().parent.parent / "config" / "paper.yaml"

# A one-run config whose numbers are easy to follow by hand.
CONFIG = {
    "name": "hand", "size": "paper", "device": "gpu", "seeds": [0],
    "datasets": {
        "gsm8k": {"source": "hub", "reward": "gsm8k", "num_examples": {"train": 1000, "test": 200}},
    },
    "backbones": {"m7": {"hub": "org/m7", "revision": "abc", "params_b": 7.0}},
    "methods": {"grpo": {"args": {"learning_rate": 1e-6, "beta": 0.001}}},
    "training": {"max_steps": -1, "num_train_epochs": 2, "eval_every": 10, "eval_limit": 100, "save_every": 10,
                 "method_args": {"num_generations": 8, "per_device_train_batch_size": 8,
                                 "gradient_accumulation_steps": 4, "max_completion_length": 300}},
    "experiments": {"e": {"backbones": ["m7"], "data": [{"train": "gsm8k", "eval": "gsm8k"}], "methods": ["grpo"]}},
    "evaluation": {},
    "report": {"figures": [], "tables": {}},
    "estimate": {"gpu": "test GPU", "peak_tflops": 1000, "num_processes": 4,
                 "mfu": {"train": 0.5, "reference": 0.4, "generation": 0.1},
                 "prompt_tokens": {"gsm8k": 100}, "completion_tokens": {"gsm8k": 500}},
}


def test_one_run_matches_a_hand_computation():
    G.validate(CONFIG)
    grid = G.expand(CONFIG)
    (est,) = E.estimate(grid)
    # By hand: 8 x 4 x 4 GPUs / N=8 -> 16 prompts per step; 2 epochs x 1000 prompts -> 125 steps,
    # 16,000 rollouts of 100 + min(500, 300) = 400 tokens -> D = 6.4e6 tokens.
    assert est.prompts_per_step == 16
    assert est.steps == 125
    assert est.rollouts == 16_000
    assert est.train_tokens == 6.4e6
    # TRL's GRPOConfig checkpoints activations by default: train 8 x 7e9 x 6.4e6 = 3.584e17 FLOPs at
    #   1e15 x 0.5 -> 716.8 s
    # reference: beta 0.001 -> the reference model's pass; vLLM rollouts (device gpu) without TRL's importance-
    #   sampling correction (off for every method unless a config asks) -> no sampling policy's pass:
    #   2 x 7e9 x 6.4e6 = 8.96e16 at 1e15 x 0.4 -> 224 s
    # generation 2 x 7e9 x 6.4e6 = 8.96e16 at 1e15 x 0.1 -> 896 s
    # eval at step 0, every 10 steps and after the last (125): 125 // 10 + 1 + 1 = 14 evals x 100 prompts x
    #   (1 sampled + 1 greedy) x 400 tokens x 2 x 7e9 = 1.568e16 at 1e14 -> 156.8 s
    assert est.passes == {"reference": 1, "old_policy": 0}
    assert est.flops["train"] == pytest.approx(3.584e17)
    assert est.flops["reference"] == pytest.approx(8.96e16)
    assert est.flops["generation"] == pytest.approx(8.96e16)
    assert est.flops["eval"] == pytest.approx(1.568e16)
    assert est.gpu_hours["train"] == pytest.approx(716.8 / 3600)
    assert est.gpu_hours["reference"] == pytest.approx(224 / 3600)
    assert est.gpu_hours["generation"] == pytest.approx(896 / 3600)
    assert est.gpu_hours["eval"] == pytest.approx(156.8 / 3600)
    assert est.total_gpu_hours == pytest.approx((716.8 + 224 + 896 + 156.8) / 3600)
    # disk: 2 checkpoints x 14 bytes x 7e9 = 196 GB, final 2 x 7e9 = 14 GB
    assert est.disk_gb == pytest.approx({"checkpoints": 196.0, "final": 14.0})


def test_a_config_that_turns_the_vllm_correction_on_pays_the_sampling_policy_pass():
    cfg = copy.deepcopy(CONFIG)
    cfg["methods"]["grpo"]["args"]["vllm_importance_sampling_correction"] = True
    (est,) = E.estimate(G.expand(cfg))
    # the sampling policy's log-probs on top of the reference model's: 2 passes x 8.96e16
    assert est.passes == {"reference": 1, "old_policy": 1}
    assert est.flops["reference"] == pytest.approx(2 * 8.96e16)


def test_periodic_evals_without_the_greedy_pass_count_only_the_sampled_completions():
    cfg = copy.deepcopy(CONFIG)
    cfg["training"]["eval_greedy"] = False
    G.validate(cfg)
    (est,) = E.estimate(G.expand(cfg))
    # By hand: 14 evals x 100 prompts x 1 sampled completion x 400 tokens x 2 x 7e9 = 7.84e15 (half of 1.568e16)
    assert est.flops["eval"] == pytest.approx(7.84e15)


def test_periodic_evals_counted_in_rollout_batches():
    cfg = copy.deepcopy(CONFIG)
    # 16 prompts per update, 64 per rollout batch: 4 updates per batch; 2 epochs of 1000 prompts = 125 updates
    cfg["training"].update(rollout_batch_prompts=64, optimizer_batch_prompts=16, cadence_unit="rollout_batch",
                           eval_every=5, eval_greedy=True, eval_k=0)
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps"):
        cfg["training"]["method_args"].pop(key)
    G.validate(cfg)
    (est,) = E.estimate(G.expand(cfg))
    # By hand: every 5 batches = 20 updates: step 0, 20, .., 120 and the last (125) = 8 evals x 100 prompts x
    #   1 greedy completion x 400 tokens x 2 x 7e9 = 4.48e15
    assert est.steps == 125
    assert est.flops["eval"] == pytest.approx(4.48e15)


def test_a_mixture_of_experts_counts_its_active_parameters_for_flops_and_all_for_disk():
    cfg = copy.deepcopy(CONFIG)
    (dense,) = E.estimate(G.expand(cfg))
    cfg["backbones"]["m7"]["active_params_b"] = 1.0
    G.validate(cfg)
    (moe,) = E.estimate(G.expand(cfg))
    assert moe.params_b == 7.0 and moe.active_params_b == 1.0
    assert moe.flops["train"] == pytest.approx(dense.flops["train"] / 7)
    assert moe.disk_gb == pytest.approx(dense.disk_gb)  # checkpoints hold every expert
    cfg["backbones"]["m7"]["active_params_b"] = 8.0
    with pytest.raises(G.ConfigError, match=r"backbones\.m7\.active_params_b"):
        E.estimate(G.expand(cfg))


def test_the_final_models_rlvr_evaluation_is_counted_where_an_experiment_asks_for_it():
    cfg = copy.deepcopy(CONFIG)
    G.validate(cfg)
    (without,) = E.estimate(G.expand(cfg))
    cfg["experiments"]["e"]["evaluate"] = ["rlvr"]
    cfg["evaluation"] = {"rlvr": {"k": 4, "max_new_tokens": 350, "limit": None}}
    G.validate(cfg)
    (est,) = E.estimate(G.expand(cfg))
    # By hand: all 200 test problems x (4 sampled + 1 greedy) x (100 + min(500, 350)) tokens x 2 x 7e9
    #   = 200 x 5 x 450 x 1.4e10 = 6.3e15 FLOPs, on top of the periodic evals' 1.568e16
    assert est.flops["eval"] - without.flops["eval"] == pytest.approx(6.3e15)
    assert est.flops["eval"] == pytest.approx(1.568e16 + 6.3e15)
    cfg["evaluation"]["rlvr"]["limit"] = 50  # a bounded final evaluation: a quarter of that
    (bounded,) = E.estimate(G.expand(cfg))
    assert bounded.flops["eval"] - without.flops["eval"] == pytest.approx(6.3e15 / 4)
    # verl's validation: greedy only, at the training response length (max_new_tokens null: 300 tokens)
    cfg["evaluation"]["rlvr"] = {"k": 0, "greedy": True, "max_new_tokens": None, "limit": None}
    G.validate(cfg)
    (greedy,) = E.estimate(G.expand(cfg))
    # 200 problems x 1 greedy answer x (100 + min(500, 300)) tokens x 2 x 7e9 = 1.12e15
    assert greedy.flops["eval"] - without.flops["eval"] == pytest.approx(1.12e15)


@pytest.mark.parametrize(("method", "args", "use_vllm", "want"), [
    # GIFT against pi_ref, a rollout batch over 4 optimizer steps (the paper's): pi_ref's pass only; the
    # sampling policy's log-probs, which TRL would compute for a misaligned batch, are not read by the loss
    ("gift", {"gradient_accumulation_steps": 32, "steps_per_generation": 128}, True, (1, 0)),
    # GIFT against the sampling policy over 4 updates: its log-probs are the reference
    ("gift", {"implicit_reference": "rollout", "gradient_accumulation_steps": 32, "steps_per_generation": 128},
     True, (0, 1)),
    # ... one update per rollout batch: the policy's own detached log-probs, no extra pass
    ("gift", {"implicit_reference": "rollout", "gradient_accumulation_steps": 4}, True, (0, 0)),
    ("grpo", {"gradient_accumulation_steps": 4}, False, (1, 0)),
    ("grpo", {"beta": 0.0, "gradient_accumulation_steps": 4, "steps_per_generation": 8}, False, (0, 1)),
    ("gft", {"gradient_accumulation_steps": 8, "steps_per_generation": 16}, False, (0, 0)),
    # ... and with vLLM rollouts: GFT keeps TRL's importance-sampling correction (and its pass) off
    ("gft", {"gradient_accumulation_steps": 8, "steps_per_generation": 16}, True, (0, 0)),
])
def test_extra_passes_follow_the_trainers_conditions(method, args, use_vllm, want):
    full = E.resolved_method_args(method, args)
    assert tuple(E.logprob_passes(method, full, use_vllm).values()) == want


def test_gradient_checkpointing_off_is_six_pd():
    cfg = copy.deepcopy(CONFIG)
    cfg["training"]["method_args"]["gradient_checkpointing"] = False
    (est,) = E.estimate(G.expand(cfg))
    assert est.flops["train"] == pytest.approx(6 * 7e9 * 6.4e6)


def test_max_steps_overrides_epochs_and_reward_model_is_counted():
    cfg = copy.deepcopy(CONFIG)
    cfg["training"]["max_steps"] = 10
    cfg["datasets"]["infinity_instruct"] = {"source": "hub", "reward": "reward_model", "num_examples": {"train": 50}}
    cfg["reward_models"] = {"rm": {"hub": "org/rm", "revision": "r", "params_b": 2.0}}
    cfg["experiments"]["e"]["data"] = [{"train": "infinity_instruct", "eval": None}]
    cfg["experiments"]["e"]["reward_model"] = "rm"
    cfg["estimate"]["prompt_tokens"]["infinity_instruct"] = 50
    cfg["estimate"]["completion_tokens"]["infinity_instruct"] = 150
    (est,) = E.estimate(G.expand(cfg))
    # 10 steps x 16 prompts x 8 = 1280 rollouts of 200 tokens = 256,000 tokens; no eval data, no eval
    assert est.steps == 10 and est.rollouts == 1280 and est.train_tokens == 256_000
    assert est.flops["eval"] == 0
    assert est.flops["reward_model"] == pytest.approx(2 * 2e9 * 256_000)


def test_missing_assumption_names_the_key():
    cfg = copy.deepcopy(CONFIG)
    del cfg["backbones"]["m7"]["params_b"]
    with pytest.raises(G.ConfigError, match=r"backbones\.m7\.params_b"):
        E.estimate(G.expand(cfg))


def test_cli_on_the_paper_config_prints_assumptions_and_a_total(capsys):
    assert E.cli(["--config", str(PAPER)]) == 0
    out = capsys.readouterr().out
    assert "Assumptions:" in out and "MFU" in out and "8*P*D with gradient checkpointing" in out
    assert "Disk:" in out and "Longest run:" in out
    grid = G.expand(G.load_config(PAPER))
    for run_id in grid.runs:
        assert run_id in out
    total = sum(r.total_gpu_hours for r in E.estimate(grid))
    assert f"Total: {total:,.0f} GPU-hours" in out


def test_node_config_fits_24_gpu_hours_and_its_grpo_run_matches_a_hand_computation():
    grid = G.expand(G.load_config(Path(__file__).resolve().parent.parent / "config" / "node.yaml"))
    rows = {r.run_id: r for r in E.estimate(grid)}
    assert len(rows) == 51
    assert sum(r.total_gpu_hours for r in rows.values()) <= 24.0
    # GSM8K GRPO, 200 steps x 32 prompts x N 8 on one H100; 130 + 250 tokens; MFU 0.25 training and log-probs,
    # 0.10 generation; training 8PD (gradient checkpointing on in node.yaml); GRPO's two extra log-prob passes;
    # evals at step 0 and every 5 rollout batches of 4 updates: 11 evals of 500 problems x (2 samples + 1 greedy);
    # the final model's RLVR evaluation (the rlvr experiment's `evaluate`): the 500 test problems x (k 4 + 1
    # greedy) at the training length (512 tokens, above the mean response).
    p, d = 1.54e9, 200 * 32 * 8 * (130 + 250)
    peak = 989e12
    hours = (8 * p * d / (peak * 0.25) + 2 * 2 * p * d / (peak * 0.25) + 2 * p * d / (peak * 0.10)
             + 2 * p * 11 * 500 * 3 * (130 + 250) / (peak * 0.10)
             + 2 * p * 500 * 5 * (130 + 250) / (peak * 0.10)) / 3600
    assert rows["qwen2.5-1.5b-instruct-gsm8k-grpo-s0"].total_gpu_hours == pytest.approx(hours, rel=1e-9)
    # sweep points train 60 steps
    assert rows["qwen2.5-1.5b-instruct-gsm8k-dapo-lr3e-07-s2"].steps == 60


def test_node_estimate_prints_fractional_hours_and_wall_time_on_its_gpus(capsys):
    node = Path(__file__).resolve().parent.parent / "config" / "node.yaml"
    assert E.cli(["--config", str(node)]) == 0
    out = capsys.readouterr().out
    rows = E.estimate(G.expand(G.load_config(node)))
    total = sum(r.total_gpu_hours for r in rows)
    assert f"Total: {total:.1f} GPU-hours for 51 training runs" in out
    assert "GPU-days" not in out and "1 GPUs" not in out
    # a sweep run's hours are a fraction of one, printed as such
    sweep = next(r for r in rows if "-lr" in r.run_id)
    line = next(line for line in out.splitlines() if line.startswith(sweep.run_id + " "))
    assert f"{sweep.total_gpu_hours:.2f}" in line.split()[-2] and 0 < sweep.total_gpu_hours < 1
    # on one GPU the runs follow each other; on the node's 8 GPUs, at least the total over 8 and the longest run
    assert f"Wall time on one GPU, one run after another: about {total:.1f} hours" in out
    wall = E.wall_hours(rows, 8)
    assert max(total / 8, max(r.total_gpu_hours for r in rows)) <= wall <= total / 8 + max(
        r.total_gpu_hours for r in rows)
    assert f"on one node of 8 GPUs (cluster.gpus_per_node), 1 GPU per run, 8 at once: about {wall:.1f} hours" in out


def test_wall_time_packs_runs_onto_free_gpus():
    rows = [E.RunEstimate(run_id=f"r{i}", params_b=1.0, num_processes=1, prompts_per_step=1, steps=1, rollouts=1,
                          tokens_per_rollout=1, train_tokens=1, flops={}, gpu_hours={"train": h}, passes={},
                          disk_gb={}) for i, h in enumerate((3.0, 2.0, 2.0, 1.0))]
    # by hand, 2 GPUs, longest first: GPU a 3, GPU b 2 + 2 = 4, then 1 to a: 4 -> wall 4
    assert E.wall_hours(rows, 2) == pytest.approx(4.0)
    assert E.wall_hours(rows, 1) == pytest.approx(8.0)


def test_cpu_configs_are_answered_in_one_line(capsys):
    for name in ("smoke", "tiny"):
        path = Path(__file__).resolve().parent.parent / "config" / f"{name}.yaml"
        assert E.cli(["--config", str(path)]) == 0
        out = capsys.readouterr().out.strip()
        assert len(out.splitlines()) == 1 and "CPU config" in out and "docs/timings.md" in out
