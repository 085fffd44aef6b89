"""The paper config on its cluster: GPU memory per run, Slurm resources per model size, runtime across
requeued jobs, and an installable GPU stack."""

from __future__ import annotations

import copy
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from gift import estimate as E
from gift import gpu_memory as M
from gift import grid as G
from gift.grid.resources import CPU_JOB

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"


@pytest.fixture(scope="module")
def paper():
    cfg = G.load_config(PAPER)
    G.validate(cfg)
    return cfg


@pytest.fixture(scope="module")
def grid(paper):
    return G.expand(paper)


def test_every_paper_run_fits_its_gpus_while_vllm_generates(grid):
    for run_id in grid.runs:
        plan = M.run_memory(grid, run_id)
        assert plan.ok, "\n".join(plan.lines + plan.problems)
        assert plan.resident_gb + plan.vllm_gb <= 80 - 4, "the cluster's margin stays free"


def test_the_32b_arithmetic_by_hand(grid):
    # Qwen2.5-32B-Instruct GRPO on GSM8K (KL against pi_ref): 32.8e9 parameters over 8 GPUs, optimizer on the CPU:
    #   training state 4 B x 32.8e9 / 8 = 16.4 GB, pi_ref bf16 / 8 = 8.2 GB -> 24.6 GB
    #   vLLM 0.4 x 80 = 32 GB: weights 2 x 32.8e9 / 4 = 16.4 GB, overhead 3 -> KV 12.6 GB
    #   KV per token per GPU = 2 x 64 layers x 8 heads x 128 x 2 B / 4 = 65536 B; 2048 tokens per sequence
    plan = M.run_memory(grid, "qwen2.5-32b-instruct-gsm8k-grpo-s0")
    assert plan.resident_gb == pytest.approx(24.6)
    assert plan.vllm_gb == pytest.approx(32.0)
    assert plan.kv_sequences == pytest.approx(12.6e9 / (65536 * 2048))


def test_the_mixture_of_experts_plan_holds_every_expert_and_says_so(grid):
    plan = M.run_memory(grid, "qwen3-30b-a3b-base-dapo_math-grpo-s0")
    # all 30.5B parameters resident: 4 B x 30.5B / 8 = 15.25 GB + GRPO's sharded pi_ref 2 B x 30.5B / 8 = 7.6 GB;
    # vLLM 0.5 x 80 = 40 GB with weights 61 GB / tensor parallel 8
    assert plan.ok, plan.lines
    assert plan.resident_gb == pytest.approx(4 * 30.5 / 8 + 2 * 30.5 / 8)
    assert plan.vllm_gb == pytest.approx(40.0)
    # KV: 2 x 48 layers x 4 heads x 128 x 2 B / 8 per token, sequences of 2048 + 8192 tokens
    assert plan.kv_sequences == pytest.approx((40 - 61 / 8 - 3) * 1e9 / (2 * 48 * 4 * 128 * 2 / 8 * 10240))
    assert any("mixture of experts: 3.3B of 30.5B active" in line for line in plan.lines)


def test_trl_default_rollout_engine_cannot_hold_a_32b_model(paper):
    cfg = copy.deepcopy(paper)
    for name in ("qwen2.5-32b-instruct", "qwen2.5-32b", "qwen3-32b"):
        cfg["backbones"][name]["method_args"] = {}  # TRL's defaults: tensor parallel 1, 0.3 of the GPU
    grid = G.expand(cfg)
    plan = M.run_memory(grid, "qwen2.5-32b-instruct-math-gift-s0")
    assert not plan.ok and "cannot hold the weights" in plan.problems[0]


def test_training_and_eval_jobs_ask_for_resources_by_model_size_on_one_node(paper, grid):
    for run in grid.runs.values():
        res = G.job_resources(grid, run.backbone, "train")
        assert res["nodes"] == 1 and res["gpu"] == paper["cluster"]["gpus_per_node"]
        assert res["runtime"] <= paper["cluster"]["job_time_limit_min"] <= 48 * 60
        if paper["backbones"][run.backbone]["params_b"] < 10:
            assert res["mem_mb"] <= 512_000, "a 7B run does not need a 1 TB node"
        else:  # the optimizer states (12 B x 32.8e9 = 394 GB) live in CPU memory
            assert res["mem_mb"] >= 12 * 32.8e9 / 1e6 * 1.5
    for model in grid.models.values():
        res = G.job_resources(grid, model.backbone, "eval")
        assert res["nodes"] == 1
        assert not M.eval_memory(paper, model.backbone, res["gpu"]), model.model_id


def test_cpu_configs_get_one_core_and_no_gpu():
    grid = G.expand(G.load_config(ROOT / "config" / "smoke.yaml"))
    run = next(iter(grid.runs.values()))
    assert G.job_resources(grid, run.backbone, "train") == {**CPU_JOB, "nodes": 1}


def test_every_run_finishes_within_its_requeued_jobs_and_saves_often_enough(paper, grid):
    limit_h = paper["cluster"]["job_time_limit_min"] / 60
    jobs = paper["cluster"]["requeues"] + 1
    for est in E.estimate(grid):
        run = grid.runs[est.run_id]
        hours = est.total_gpu_hours / est.num_processes
        save_every = run.training["save_every"]  # in updates, or in rollout batches of 4 updates (the paper's)
        if run.training.get("cadence_unit") == "rollout_batch":
            save_every *= run.training["rollout_batch_prompts"] // run.training["optimizer_batch_prompts"]
        per_save = hours / est.steps * save_every
        assert per_save <= limit_h / 2, f"{est.run_id}: {per_save:.1f} h between checkpoints"
        # each resubmission may redo up to one save interval
        assert hours + (jobs - 1) * per_save <= jobs * limit_h, f"{est.run_id}: {hours:.0f} h"


def test_the_slurm_profile_leaves_training_and_eval_resources_to_the_config():
    prof = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    for rule in ("train", "eval", "eval_job"):
        assert rule not in prof.get("set-resources", {}), f"the profile would override {rule}'s per-size resources"
    smk = (ROOT / "workflows" / "train.smk").read_text()
    assert "retries: TRAIN_REQUEUES" in smk and "**job_resources(train_resource, train_gpus)" in smk
    assert '"nodes": 1,' in (ROOT / "workflows" / "common.smk").read_text()


# ---- the GPU stack: versions TRL supports, DeepSpeed in the conda environment ---------------------------


def _extra(name: str) -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [Requirement(r) for r in meta["project"]["optional-dependencies"][name]]
    return {r.name: r for r in reqs}


def _trl_requirement(package: str) -> SpecifierSet:
    for text in importlib.metadata.requires("trl") or []:
        req = Requirement(text)
        if req.name == package:
            return req.specifier
    raise AssertionError(f"trl declares no {package} requirement")


@pytest.mark.parametrize("package", ["vllm", "deepspeed"])
def test_gpu_extra_stays_inside_the_range_trl_supports(package):
    ours = _extra("gpu")[package].specifier
    trl = _trl_requirement(package)
    # the bounds of our range must satisfy TRL's range, and our range must have an upper bound
    bounds = [s.version for s in ours]
    assert any(s.operator in ("<", "<=", "==", "~=") for s in ours), f"{package} has no upper bound"
    for version in bounds:
        if any(s.operator in ("<",) and s.version == version for s in ours):
            continue  # an exclusive upper bound is not itself a version we allow
        assert trl.contains(version, prereleases=True), f"{package} {version} is outside trl's {trl}"
    # and nothing newer than TRL's maximum: e.g. vllm 0.33 must be refused
    if package == "vllm":
        assert not ours.contains("0.33.0") and not ours.contains("0.21.0") and ours.contains("0.31.0")


def test_gpu_configs_run_in_a_conda_environment_with_the_gpu_stack():
    env = yaml.safe_load((ROOT / "workflows" / "envs" / "gift-gpu.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert re.search(r"\[[^\]]*gpu[^\]]*\]", " ".join(pip)), "the environment installs the gpu extra"
    assert {"vllm", "deepspeed"} <= set(_extra("gpu"))
    smk = (ROOT / "workflows" / "common.smk").read_text()
    assert 'CONDA_ENV = "envs/gift-gpu.yaml" if config.get("device") == "gpu"' in smk


def test_the_periodic_eval_is_verls_validation_on_the_whole_test_split(paper, grid):
    """Greedy, one answer per problem, every test problem (no eval_limit), every 5 rollout batches."""
    for run in grid.runs.values():
        if run.eval_dataset:
            assert run.training.get("eval_limit") is None, run.run_id
            assert run.training["eval_greedy"] is True and run.training["cadence_unit"] == "rollout_batch"
