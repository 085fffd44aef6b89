"""What the GPU tests share: their markers (skipped without CUDA or vLLM) and a policy vLLM's kernels take."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


GPU_MARKS = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM (pip install -e '.[gpu]')"),
]


def skip_without_sandbox() -> None:
    """Skip, saying why, where the sandbox for model-written code (MBPP) cannot isolate it here: unprivileged
    containers often lack user namespaces. GIFT_SANDBOX_ON_MISSING=warn runs it with less isolation instead."""
    import os

    from gift.sandbox.runner import ON_MISSING_VARIABLE, isolation_report, missing_isolation_message

    report = isolation_report()
    if report["missing"] and os.environ.get(ON_MISSING_VARIABLE) != "warn":
        pytest.skip(f"MBPP's twin runs model-written code: {missing_isolation_message(report)}")


def vllm_policy(out: Path) -> Path:
    """A random Qwen2 policy (the node backbone's architecture class): head dimension 64, bf16-friendly sizes."""
    from gift.tiny.char_policy import build_char_policy

    return build_char_policy(out, hidden=128, layers=2, heads=2, kv_heads=1, max_positions=512)
