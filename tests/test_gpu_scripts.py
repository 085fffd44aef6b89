"""The GPU scripts on a CPU: what tests/scripts/gpu_tests.sh would run and on which GPU, the sandbox skip of the
MBPP twin, and tests/scripts/device_check.sh up to its CUDA calls (--cpu)."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gpu_test_names(path: Path) -> set[str]:
    return {node.name for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize(("visible", "used"), [(None, "0"), ("3,5", "3")])
def test_gpu_tests_script_runs_every_gpu_test_on_one_gpu(visible, used):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    proc = subprocess.run(["bash", str(ROOT / "tests/scripts/gpu_tests.sh"), "--list"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"CUDA_VISIBLE_DEVICES={used}"
    listed = {line.split("::")[1].split("[")[0] for line in lines[1:]}
    for name in ("test_gpu.py", "test_gpu_node.py", "test_gpu_zero3.py"):
        assert _gpu_test_names(ROOT / "tests" / name) <= listed, name


def test_the_mbpp_twin_is_skipped_with_the_reason_where_the_sandbox_cannot_isolate(monkeypatch):
    from gift.sandbox import runner as sandbox
    from tests.gpu_support import skip_without_sandbox

    monkeypatch.setattr(sandbox, "isolation_report", lambda: {"mode": "none", "missing": ["user namespaces"]})
    monkeypatch.delenv(sandbox.ON_MISSING_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing user namespaces"):
        skip_without_sandbox()
    monkeypatch.setenv(sandbox.ON_MISSING_VARIABLE, "warn")
    skip_without_sandbox()  # accepted weaker isolation: the test runs
    monkeypatch.delenv(sandbox.ON_MISSING_VARIABLE)
    monkeypatch.setattr(sandbox, "isolation_report", lambda: {"mode": "bwrap", "missing": []})
    skip_without_sandbox()


def test_the_device_check_runs_on_a_cpu_up_to_its_cuda_calls(tmp_path):
    import json
    import math

    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "tests/scripts/device_check.sh"), "--cpu", "--work", str(tmp_path / "w")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "device_check.json").read_text())
    assert result["ok"] and result["device"] == "cpu" and result["steps"] == 2
    for method in ("gift", "grpo"):
        run = result["runs"][method]
        assert run["steps"] == 2 and all(math.isfinite(v) for v in run["losses"])
        assert run["param_dtypes"] == run["moment_dtypes"] == ["torch.float32"]
        assert run["predicted_gb"] > 0 and run["s_per_update"] > 0
    assert "GIFT/GRPO seconds per update" in proc.stdout
