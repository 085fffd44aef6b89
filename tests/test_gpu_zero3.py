"""On one GPU with DeepSpeed: a ZeRO-3 run killed after its last step writes final/ with every weight whole.

    python -m pytest -m gpu tests/test_gpu_zero3.py      # or tests/scripts/gpu_tests.sh
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gpu_support import cuda_available, vllm_policy
from tests.policy_fixtures import write_addition_prompts

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="needs DeepSpeed (pip install -e '.[gpu]')"),
]


def _launch(policy: Path, data: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "config/accelerate/zero3_7b.yaml"), "--num_processes", "1", "--main_process_port", "29631",
           str(ROOT / "tests/scripts/zero3_train.py"), str(policy), str(data), str(out)]
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_a_zero3_run_killed_after_its_last_step_writes_whole_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    policy = vllm_policy(tmp_path / "policy")
    data = write_addition_prompts(tmp_path / "train.jsonl", n=8)
    run = tmp_path / "run"
    _launch(policy, data, run)
    shutil.rmtree(run / "final")
    (run / "DONE").unlink()  # as if killed while writing final/
    _launch(policy, data, run)  # loads the last checkpoint partitioned (the trainer config exists), then saves

    assert "saving final/ from it" in (run / "train.log").read_text()
    checkpoint = load_file(run / "checkpoints" / "checkpoint-2" / "model.safetensors")
    final = load_file(run / "final" / "model.safetensors")
    assert checkpoint and set(checkpoint) <= set(final)
    for key, value in checkpoint.items():
        assert final[key].shape == value.shape and torch.equal(final[key], value.to(final[key].dtype)), key
