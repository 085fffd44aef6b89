"""On one GPU with vLLM: the node config's methods that the other GPU tests leave out (DAPO, GIFT against pi_ref)
with vLLM rollouts, a Qwen2 policy and the node's batch structure in miniature. Skipped without a GPU or vLLM.

    python -m pytest -m gpu tests/test_gpu_node.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gift.files import read_jsonl
from tests.gpu_support import GPU_MARKS, vllm_policy
from tests.policy_fixtures import write_addition_prompts

pytestmark = GPU_MARKS


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> Path:
    return vllm_policy(tmp_path_factory.mktemp("gpu-node") / "policy")


@pytest.mark.parametrize(("method", "args"), [("dapo", {}), ("gift", {"implicit_reference": "reference"})])
def test_vllm_rollouts_for_the_node_methods(policy, tmp_path, method, args):
    from gift.run.train import train

    prompts = write_addition_prompts(tmp_path / "train.jsonl", n=16)
    # node.yaml's structure: 4 optimizer updates per rollout batch, N groups, colocated vLLM
    run = train({"run_id": f"gpu-node-{method}", "method": method, "model": str(policy), "train_data": str(prompts),
                 "eval_data": str(prompts), "eval_every": 2, "eval_limit": 8, "reward": "gsm8k",
                 "output_dir": str(tmp_path / method), "max_steps": 4, "save_every": 4, "rollout_backend": "vllm",
                 "rollout_batch_prompts": 8, "optimizer_batch_prompts": 2, "micro_batch_prompts": 1,
                 "method_args": {"num_generations": 4, "max_completion_length": 16, "learning_rate": 1e-4,
                                 "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.25, **args}})
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["use_vllm"] is True
    assert manifest["config"]["batch"]["steps_per_generation"] == 8
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("step", 0) > 0]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["completion_length"] > 0  # logged at the first update of each rollout batch
    assert [r["step"] for r in rows if "eval_pass@1" in r] == [2, 4] and rows[1]["eval_n"] == 8
    assert (run / "DONE").exists() and (run / "final" / "config.json").exists()
