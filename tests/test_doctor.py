"""`gift doctor`: the preflight table on this machine (no GPU, no hub, no key) and with the machine simulated."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gift import doctor as D
from gift import grid as G

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"


def _good_probes(**over) -> D.Probes:
    versions = {"vllm": "0.31.0", "deepspeed": "0.18.6"}
    probes = D.Probes(gpus=lambda: [("NVIDIA H100 80GB HBM3", 85.0)] * 8, free_gb=lambda path: 50_000.0,
                      hub_access=lambda need: None, judge=lambda spec: None,
                      sandbox=lambda: {"mode": "bwrap", "layers": ["netns", "pidns"], "missing": []},
                      version=lambda name: versions.get(name) or D._version(name), compiler=lambda: "/usr/bin/c++")
    for k, v in over.items():
        setattr(probes, k, v)
    return probes


@pytest.fixture(scope="module")
def paper():
    cfg = G.load_config(PAPER)
    G.validate(cfg)
    return cfg


def test_on_this_machine_the_table_names_every_missing_piece_and_its_fix(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), HF_HOME=str(tmp_path / "hf"))
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "doctor", "--config", str(PAPER), "--out",
                           str(tmp_path / "doctor.txt")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + out, proc.stderr[-2000:]
    assert (tmp_path / "doctor.txt").read_text().strip() == out.strip()
    lines = out.splitlines()
    assert any(line.startswith("MISSING  gpu") and "0 GPU(s) visible, the training runs need 8" in line
               for line in lines)
    assert any(line.startswith("MISSING  package  vllm") for line in lines)
    assert any(line.startswith("MISSING  judge") and "OPENAI_API_KEY" in line for line in lines)
    assert any(line.startswith("MISSING  hub") and "meta-llama/Llama-3.2-3B-Instruct" in line for line in lines)
    assert any(line.startswith("ok       package  torch") for line in lines)
    # every MISSING row is followed by its fix
    for i, line in enumerate(lines):
        if line.startswith("MISSING"):
            assert "fix: " in lines[i + 1], line


def test_a_ready_node_passes_every_check(paper):
    rows = D.run_checks(paper, _good_probes())
    assert all(r.ok for r in rows), D.format_table(rows)
    areas = {r.area for r in rows}
    assert areas == {"gpu", "vllm", "package", "compiler", "judge", "hub", "disk", "sandbox", "model"}


def test_the_mixture_of_experts_backbone_states_its_active_and_total_parameters(paper):
    rows = D.run_checks(paper, _good_probes())
    (moe,) = [r for r in rows if r.area == "model"]
    assert moe.item == "qwen3-30b-a3b-base: mixture of experts" and moe.ok
    assert "3.3B of 30.5B parameters active per token" in moe.detail
    bad = copy.deepcopy(paper)
    bad["backbones"]["qwen3-30b-a3b-base"]["active_params_b"] = 40.0
    with pytest.raises(G.ConfigError, match=r"backbones\.qwen3-30b-a3b-base\.active_params_b"):
        D.run_checks(bad, _good_probes())


def test_40gb_gpus_are_refused_for_the_32b_runs(paper):
    rows = D.run_checks(paper, _good_probes(gpus=lambda: [("NVIDIA A100 40GB", 42.0)] * 8))
    mem = next(r for r in rows if r.item == "memory")
    n_32b = sum(paper["backbones"][r.backbone]["params_b"] > 30 for r in G.expand(paper).runs.values())
    assert not mem.ok and mem.fix and int(mem.detail.split(" run(s) do not fit")[0]) >= n_32b


def test_a_vllm_outside_the_supported_range_and_a_gated_model_are_named(paper):
    versions = {"vllm": "0.33.0", "deepspeed": "0.18.6"}

    def hub(need):
        return "GatedRepoError: access restricted" if need.source.startswith("meta-llama/") else None

    rows = D.run_checks(paper, _good_probes(version=lambda n: versions.get(n) or D._version(n), hub_access=hub))
    bad = {(r.area, r.item): r for r in rows if not r.ok}
    assert set(bad) == {("package", "vllm"), ("hub", "model meta-llama/Llama-3.2-3B-Instruct")}
    assert "0.33.0" in bad[("package", "vllm")].detail and "pip install" in bad[("package", "vllm")].fix
    assert "request access at https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct" in bad[
        ("hub", "model meta-llama/Llama-3.2-3B-Instruct")].fix


def test_too_little_disk_for_the_checkpoints(paper):
    rows = D.run_checks(paper, _good_probes(free_gb=lambda path: 2_000.0))
    disk = [r for r in rows if r.area == "disk"]
    assert not disk[0].ok and "GB free; checkpoints and final models" in disk[0].detail


# ---- scope: a judge's key is the judge evaluations' concern alone; fix lines follow the config -----------

NODE = ROOT / "config" / "node.yaml"


def _no_key(spec: str) -> str:
    return "JudgeError: judge api:gpt-4.1 needs an API key: set OPENAI_API_KEY"


def test_a_missing_judge_key_fails_the_judge_evaluations_alone(tmp_path):
    node = G.load_config(NODE)
    probes = _good_probes(gpus=lambda: [("NVIDIA H100 80GB HBM3", 85.0)], judge=_no_key)
    rows = D.run_checks(node, probes)
    judges = [r for r in rows if r.area == "judge"]
    assert {r.only_for for r in judges} == {"alpaca_eval", "arena_hard"} and not any(r.ok for r in judges)
    assert not D.blocking(rows), D.format_table(rows)
    assert "training and the other evaluations: ready; alpaca_eval, arena_hard: not ready" in D.format_table(rows)
    D.rule_doctor(node, str(tmp_path / "doctor.txt"), str(tmp_path / "doctor.log"), probes)
    assert (tmp_path / "doctor.txt").exists(), "the training runs' preflight passes without the key"
    with pytest.raises(ValueError, match=r"OPENAI_API_KEY.*drop evaluation\.alpaca_eval from the config"):
        D.rule_judge(node, "alpaca_eval", str(tmp_path / "judge.txt"), str(tmp_path / "judge.log"), probes)
    assert not (tmp_path / "judge.txt").exists()
    D.rule_judge(node, "arena_hard", str(tmp_path / "judge.txt"), str(tmp_path / "judge.log"), _good_probes())
    assert (tmp_path / "judge.txt").exists()


def test_a_failed_gpu_check_still_blocks_the_training_runs(tmp_path):
    node = G.load_config(NODE)
    probes = _good_probes(gpus=lambda: [])
    with pytest.raises(ValueError, match="1 check"):
        D.rule_doctor(node, str(tmp_path / "doctor.txt"), str(tmp_path / "doctor.log"), probes)


@pytest.mark.parametrize(("config", "gpus"), [(NODE, 1), (PAPER, 8)])
def test_the_gpu_fix_line_asks_for_the_configs_gpus(config, gpus):
    rows = D.run_checks(G.load_config(config), _good_probes(gpus=lambda: []))
    count = next(r for r in rows if r.item == "count")
    assert not count.ok and f"srun --nodes=1 --gpus={gpus} gift doctor" in count.fix


def _dry_run_jobs(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    for scripts in ("figures", "tables"):  # the rules' scripts, by paths relative to the working directory
        if not (tmp_path / scripts).exists():
            (tmp_path / scripts).symlink_to(ROOT / scripts)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf")}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(NODE), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _rule_inputs(dry_run_output: str, rule: str, output: str = "") -> list[str]:
    """The inputs of each job of `rule` (those whose output contains `output`, when given)."""
    blocks = dry_run_output.split("\nrule ")
    return [line.split("input:", 1)[1] for b in blocks if b.startswith(rule + ":")
            and any(line.strip().startswith("output:") and output in line for line in b.splitlines())
            for line in b.splitlines() if line.strip().startswith("input:")]


def test_the_training_jobs_wait_for_the_doctor_and_only_judge_evaluations_for_the_judge(tmp_path):
    proc = _dry_run_jobs(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    train = _rule_inputs(proc.stdout, "train")
    assert len(train) == 51 and all("doctor.txt" in i and "judge-" not in i for i in train)
    for kind in ("alpaca_eval", "arena_hard"):
        judged = _rule_inputs(proc.stdout, "eval", f"/{kind}.json")
        assert judged and all(f"judge-{kind}.txt" in i for i in judged), kind
    unjudged = _rule_inputs(proc.stdout, "eval", "/rlvr_") + _rule_inputs(proc.stdout, "eval", "/lm_eval.json")
    assert len(unjudged) == 24 + 10 and all("judge-" not in i for i in unjudged)
    assert re.search(r"^judge\s+2$", proc.stdout, re.M)


def test_the_slurm_profile_gives_node_jobs_the_configs_resources_and_refuses_a_placeholder(tmp_path):
    refused = _dry_run_jobs(tmp_path, "--workflow-profile", str(ROOT / "profiles" / "slurm"))
    assert refused.returncode != 0
    assert "slurm_partition=<PARTITION>" in refused.stderr and "fill it in the profile" in refused.stderr
    proc = _dry_run_jobs(tmp_path, "--workflow-profile", str(ROOT / "profiles" / "slurm"), "--default-resources",
                         "slurm_partition=gpu", "slurm_account=lab")
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = [b for b in proc.stdout.split("\nrule ") if b.startswith("train:")]
    assert len(blocks) == 51
    node = G.load_config(NODE)
    from gift import gpu_memory

    plan = gpu_memory.run_memory(G.expand(node), next(iter(G.expand(node).runs)))
    for b in blocks:
        res = dict(kv.split("=", 1) for kv in b.split("resources:", 1)[1].splitlines()[0].strip().split(", "))
        assert res["nodes"] == "1" and res["gpu"] == "1" and res["slurm_partition"] == "gpu"
        # host memory holds at least the run's GPU training state when a checkpoint is staged
        assert int(res["mem_mb"]) >= 1000 * plan.resident_gb and int(res["cpus_per_task"]) > 1


def test_placeholders_are_found_in_default_resources():
    assert G.unfilled_placeholders(["slurm_partition=<PARTITION>", "mem_mb=8000", "slurm_account='<ACCOUNT>'"]) == [
        "slurm_partition=<PARTITION>", "slurm_account='<ACCOUNT>'"]
    assert G.unfilled_placeholders(["slurm_partition=gpu"]) == [] and G.unfilled_placeholders(None) == []


def test_a_node_without_a_compiler_is_refused_for_the_cpu_adam_runs(paper):
    # the 32B backbones train under ZeRO-3 with the optimizer on the CPU: DeepSpeedCPUAdam compiles at first use
    rows = D.run_checks(paper, _good_probes(compiler=lambda: None))
    row = next(r for r in rows if r.area == "compiler")
    assert not row.ok and "g++" in row.fix and "DS_BUILD_CPU_ADAM=1" in row.fix
    offloaded = {b for b in paper["backbones"] if paper["backbones"][b].get("accelerate", "").endswith("zero3_32b.yaml")}
    assert offloaded and all(b in row.detail for b in offloaded)
    assert "qwen2.5-7b-instruct" not in row.detail  # ZeRO-3 without offload keeps the fused GPU Adam
    node = G.load_config(ROOT / "config" / "node.yaml")
    assert not [r for r in D.run_checks(node, _good_probes(compiler=lambda: None)) if r.area == "compiler"]
