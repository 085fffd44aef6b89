"""The colocated vLLM engine's scheduler budget: TRL's fixed token budget against vLLM's rule, for every config's runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gift import doctor as D
from gift import grid as G
from gift.grid.expansion import cli as grid_command
from gift.run import rollout_engine as R

ROOT = Path(__file__).resolve().parents[1]
# every full config (an overlay such as paper_seeds3.yaml adds seeds to one of them, not runs of another shape)
CONFIGS = sorted(p for p in (ROOT / "config").glob("*.yaml") if "name" in G.load_config(p))


def _runs(path: Path) -> list[dict]:
    cfg = G.load_config(path)
    G.validate(cfg)
    world = int((cfg.get("estimate") or {}).get("num_processes") or 1)
    return G.resolved_runs(G.expand(cfg), world)


def _trl_stock(method_args: dict) -> dict:
    """What TRL 1.16 alone would build: its max_num_seqs and its fixed 4096-token budget."""
    seqs = (method_args["per_device_train_batch_size"] * (method_args.get("vllm_tensor_parallel_size") or 1)
            * method_args["steps_per_generation"])
    return {"max_num_seqs": seqs, "max_num_batched_tokens": 4096}


def test_trls_fixed_budget_is_refused_for_the_32b_runs_and_figure_2a_n32_and_the_suites_is_not():
    runs = {r["run_id"]: r for r in _runs(ROOT / "config" / "paper.yaml")}
    # 8 processes: 16 rows per device x tensor parallel 4 x 128 steps per rollout batch; Fig 2a's N = 32: 32 x 2 x 128
    for run_id, seqs in (("qwen2.5-32b-instruct-gsm8k-gift-s0", 16 * 4 * 128),
                         ("deepseek-llm-7b-chat-gsm8k-gift-n32-s0", 32 * 2 * 128)):
        run = runs[run_id]
        stock = _trl_stock(run["method_args"])
        assert stock["max_num_seqs"] == seqs == 8192
        assert "below max_num_seqs 8192" in R.scheduler_problem(stock)
        assert run["vllm"] == {"max_num_seqs": seqs, "max_num_batched_tokens": seqs}
    # where 4096 holds TRL's sequences the budget stays TRL's
    assert R.engine_limits(16, 1, 16) == {"max_num_seqs": 256, "max_num_batched_tokens": 4096}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_vllm_run_of_every_config_gets_a_budget_that_holds_its_sequences(path):
    for run in _runs(path):
        if "vllm" in run:
            engine = run["vllm"]
            assert engine["max_num_seqs"] == _trl_stock(run["method_args"])["max_num_seqs"]
            assert engine["max_num_batched_tokens"] >= max(engine["max_num_seqs"], 4096), run["run_id"]
            assert "problem" not in engine


def test_only_runs_that_roll_out_with_vllm_carry_engine_limits():
    paper = _runs(ROOT / "config" / "paper.yaml")
    assert paper and all("vllm" in r for r in paper)  # a GPU config: rollout_backend auto is vLLM there
    assert not any("vllm" in r for r in _runs(ROOT / "config" / "tiny.yaml"))  # CPU: transformers
    assert R.rolls_out_with_vllm("cpu", "vllm", {}) and not R.rolls_out_with_vllm("gpu", "hf", {})
    assert not R.rolls_out_with_vllm("gpu", "auto", {"use_vllm": False})


def test_gift_grid_json_shows_the_engine_limits_and_refuses_a_budget_vllm_would_refuse(capsys, monkeypatch):
    assert grid_command(["--config", str(ROOT / "config" / "paper.yaml"), "--json"]) == 0
    runs = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs["qwen2.5-32b-instruct-gsm8k-grpo-s0"]["vllm"] == {"max_num_seqs": 8192,
                                                                  "max_num_batched_tokens": 8192}
    # with TRL's own budget the config is refused before any job starts, naming a run
    monkeypatch.setattr(R, "run_engine_limits", _trl_stock)
    assert grid_command(["--config", str(ROOT / "config" / "paper.yaml"), "--json"]) == 2
    err = capsys.readouterr().err
    assert "would not start their vLLM engine" in err and "max_num_batched_tokens 4096 below max_num_seqs 8192" in err


def test_gift_doctor_checks_every_engine_against_vllms_rule(monkeypatch):
    paper = G.load_config(ROOT / "config" / "paper.yaml")
    G.validate(paper)
    probes = D.Probes(gpus=lambda: [("NVIDIA H100 80GB HBM3", 85.0)] * 8, free_gb=lambda path: 50_000.0,
                      hub_access=lambda need: None, judge=lambda spec: None,
                      sandbox=lambda: {"mode": "bwrap", "layers": [], "missing": []}, version=D._version)
    row = next(r for r in D.run_checks(paper, probes) if r.area == "vllm")
    # the largest engine: Figure 5's Qwen3-30B-A3B-Base, 1024 prompts x 16 per rollout batch over 8 processes,
    # 256 per update with one group per micro-batch: 16 per device x tensor parallel 8 x 128 steps per generation
    assert row.ok and "largest max_num_seqs 16384 with max_num_batched_tokens 16384" in row.detail
    monkeypatch.setattr(R, "run_engine_limits", _trl_stock)
    row = next(r for r in D.run_checks(paper, probes) if r.area == "vllm")
    assert not row.ok and "max_num_batched_tokens 4096 below max_num_seqs 8192" in row.detail and row.fix


@pytest.mark.vllm
def test_vllms_own_scheduler_check_refuses_trls_budget_and_accepts_the_suites_for_every_config():
    from vllm.config import SchedulerConfig

    checked = 0
    for path in CONFIGS:
        for run in _runs(path):
            if "vllm" not in run:
                continue
            length = 4096  # the scheduler rule does not depend on it with chunked prefill (vLLM's default)
            SchedulerConfig(**run["vllm"], max_model_len=length, is_encoder_decoder=False)
            stock = _trl_stock(run["method_args"])
            if stock["max_num_seqs"] > 4096:
                with pytest.raises(ValueError, match="must be greater than or equal to max_num_seqs"):
                    SchedulerConfig(**stock, max_model_len=length, is_encoder_decoder=False)
            checked += 1
    assert checked >= 35
