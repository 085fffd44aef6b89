"""The rehearsal config: a local hub mirror of the paper's architecture classes, two-rank accelerate launches.
(The rehearsal itself runs end to end in CI: `snakemake --cores 2 --configfile config/rehearsal.yaml`.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from gift import grid as G
from gift.hub import fetch as F
from gift.hub.mirror import build_mirror

ROOT = Path(__file__).resolve().parents[1]
REHEARSAL = ROOT / "config" / "rehearsal.yaml"
PAPER_CLASSES = {  # the paper's models and the classes their hub config.json files name
    "deepseek-ai/deepseek-llm-7b-chat": "LlamaForCausalLM",
    "Qwen/Qwen2.5-7B-Instruct": "Qwen2ForCausalLM",
    "Qwen/Qwen2.5-32B-Instruct": "Qwen2ForCausalLM",
    "Qwen/Qwen3-32B": "Qwen3ForCausalLM",
    "Qwen/Qwen3-30B-A3B-Base": "Qwen3MoeForCausalLM",
    "meta-llama/Llama-3.2-3B-Instruct": "LlamaForCausalLM",
    "Skywork/Skywork-Reward-V2-Llama-3.1-8B-40M": "LlamaForSequenceClassification",
}


def test_rehearsal_uses_the_paper_hub_ids_and_revisions():
    rehearsal, paper = G.load_config(REHEARSAL), G.load_config(ROOT / "config" / "paper.yaml")
    G.validate(rehearsal)
    for name, spec in rehearsal["backbones"].items():
        assert (spec["hub"], spec["revision"]) == (paper["backbones"][name]["hub"], paper["backbones"][name]["revision"])
    assert rehearsal["mirror"]["architectures"] == PAPER_CLASSES
    # the paper's batch structure: one group per micro-batch, 4 optimizer updates per rollout batch
    args = rehearsal["training"]["method_args"]
    assert args["per_device_train_batch_size"] == args["num_generations"]
    assert args["steps_per_generation"] == 4 * args["gradient_accumulation_steps"]
    assert rehearsal["methods"]["gift"]["args"]["implicit_reference"] == "rollout"


def test_the_mirror_serves_the_paper_architectures_through_the_hub_cache(tmp_path):
    config = G.load_config(REHEARSAL)
    hf_home = tmp_path / "hf"
    build_mirror(config, hf_home)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HOME": str(hf_home)}
    report = tmp_path / "fetch.json"
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "fetch", "--config", str(REHEARSAL), "--report",
                           str(report)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    items = json.loads(report.read_text())["items"]
    assert len(items) == len(F.needs(config)) and all("already in the hub cache" in i["detail"] for i in items)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    refs = [f"{s['hub']}@{s['revision']}" for s in [*config["backbones"].values(), *config["reward_models"].values()]]
    code = ("import json, sys; from gift.pretrained import local_model; from transformers import AutoConfig\n"
            "print(json.dumps({r.split('@')[0]: AutoConfig.from_pretrained(local_model(r)).architectures[0]"
            " for r in sys.argv[1:]}))")
    proc = subprocess.run([sys.executable, "-c", code, *refs], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == PAPER_CLASSES
    out = tmp_path / "aime"
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "data", "prepare", "--dataset", "aime2024", "--source",
                           "hub", "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "test.jsonl").read_text().count("\n") > 0


def test_every_rehearsal_training_job_is_a_two_rank_accelerate_launch():
    accel = yaml.safe_load((ROOT / "config" / "accelerate" / "cpu_2proc.yaml").read_text())
    assert accel["num_processes"] == 2 and accel["use_cpu"] is True
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", "--nolock", "--configfile",
                           str(REHEARSAL)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = [line for line in proc.stdout.splitlines() if " train --config " in line]
    grid = G.expand(G.load_config(REHEARSAL))
    assert len(commands) == len(grid.runs) >= 6
    assert all("-m accelerate.commands.launch --config_file config/accelerate/cpu_2proc.yaml" in c for c in commands)
    assert "rule fetch:" in proc.stdout and "rule build_mirror:" in proc.stdout


def test_the_vllm_rehearsal_runs_everything_through_vllm_on_head_dims_its_cpu_build_accepts():
    """config/rehearsal_vllm.yaml (.ci/vllm-cpu): vLLM's CPU attention takes head dims 32 and 64, not 16 or 24."""
    config = G.load_config(ROOT / "config" / "rehearsal_vllm.yaml")
    G.expand(config)
    size = config["mirror"]["size"]
    assert size["hidden"] // size["heads"] in (32, 64) and size["hidden"] % size["heads"] == 0
    assert config["evaluation"]["backend"] == "vllm"
    assert config["training"]["method_args"]["use_vllm"] is True
    assert {e for exp in config["experiments"].values() for e in exp.get("evaluate", [])} == {
        "rlvr", "lm_eval", "alpaca_eval", "arena_hard"}
