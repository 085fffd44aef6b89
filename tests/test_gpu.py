"""On one GPU with the `gpu` extra (vLLM), no network: vLLM rollouts for GIFT and GRPO with the periodic eval,
vLLM evaluation generation, and lm-eval's vLLM backend. Models are built here. Skipped without a GPU or vLLM.

    python -m pytest -m gpu tests/test_gpu.py      # or tests/scripts/gpu_tests.sh
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gift.files import read_jsonl
from tests.gpu_support import GPU_MARKS, skip_without_sandbox, vllm_policy
from tests.policy_fixtures import write_addition_prompts

pytestmark = GPU_MARKS


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> Path:
    return vllm_policy(tmp_path_factory.mktemp("gpu") / "policy")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    return write_addition_prompts(tmp_path_factory.mktemp("gpu-data") / "train.jsonl", n=16)


VLLM_ARGS = {"vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.25, "vllm_max_model_length": 512,
             "vllm_enable_sleep_mode": False}


@pytest.mark.parametrize("method", ["gift", "grpo"])
def test_vllm_rollouts_train_and_evaluate(policy, prompts, tmp_path, method):
    from gift.run.train import train

    method_args = {"num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
                   "steps_per_generation": 4, "max_completion_length": 16, "learning_rate": 1e-4, **VLLM_ARGS}
    if method == "gift":
        method_args["implicit_reference"] = "rollout"
    run = train({"run_id": f"gpu-{method}", "method": method, "model": str(policy), "train_data": str(prompts),
                 "eval_data": str(prompts), "eval_every": 2, "eval_limit": 8, "reward": "gsm8k",
                 "output_dir": str(tmp_path / method), "max_steps": 2, "save_every": 2, "rollout_backend": "vllm",
                 "method_args": method_args})
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["use_vllm"] is True
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert rows[0]["eval_n"] == 8 and rows[2]["eval_n"] == 8  # the periodic eval went through the trainer's engine
    assert all(r["completion_length"] > 0 for r in rows[1:])
    assert (run / "final" / "config.json").exists() and (run / "DONE").exists()


def test_vllm_evaluation_generation_matches_its_request(policy):
    from gift import generation

    prompts = [[{"role": "user", "content": f"{i}+1=?"}] for i in range(6)]
    out = generation.generate(str(policy), None, prompts, n=3, temperature=1.0, max_new_tokens=8, seed=0,
                              backend="vllm")
    assert len(out) == 6 and all(len(o) == 3 for o in out)
    greedy = generation.generate(str(policy), None, prompts, n=2, max_new_tokens=8, greedy=True, backend="vllm")
    assert all(o[0] == o[1] for o in greedy)
    assert list(generation._ENGINES) == [str(policy)], "one engine serves both calls"
    answers = generation.make_generator(str(policy), backend="vllm")(prompts, {"max_new_tokens": 8, "greedy": True})
    assert answers == [o[0] for o in greedy], "greedy answers of a benchmark equal greedy pass@1's"


def test_lm_eval_runs_on_the_vllm_backend(policy, tmp_path):
    from gift.evals.lm_eval.runner import TABLE2_TASKS, materialise_twins, run_lm_eval

    skip_without_sandbox()
    twins = tmp_path / "twins"
    materialise_twins(twins, seed=0, n=4)
    record = run_lm_eval(policy, f"twins:{twins}", tmp_path / "lm_eval.json", device="cuda", backend="vllm",
                         limit=2, batch_size="auto",
                         model_args={"gpu_memory_utilization": 0.25, "max_model_len": 512})
    assert record["details"]["backend"] == "vllm"
    assert set(record["metrics"]) == {t.key for t in TABLE2_TASKS}
    assert all(0.0 <= m["value"] <= 100.0 for m in record["metrics"].values())
