"""Shared fixtures: small prepared synthetic datasets and a tiny randomly initialised Qwen2 model."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL_LIMITS = {
    "gsm8k": {"train": 200, "test": 8},
    "math": {"train": 200, "test": 8},
    "dapo_math": {"train": 200},
    "aime2024": {"test": 8},
    "infinity_instruct": {"train": 200},
    "numina_distill": {"train": 100},
}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> dict[str, Path]:
    """Every dataset's synthetic twin prepared (small limits) under one directory: name -> dir."""
    from gift.data.prepare import prepare

    root = tmp_path_factory.mktemp("data")
    out = {}
    for name, limits in SMALL_LIMITS.items():
        prepare(name, "synthetic", root / name, seed=0, limits=limits)
        out[name] = root / name
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, synthetic_data) -> Path:
    """A randomly initialised tiny Qwen2ForCausalLM with the suite's tokenizer, saved with save_pretrained."""
    import torch
    from transformers import Qwen2ForCausalLM

    from gift.tiny.build import SIZES, corpus_texts, load_data_dirs, qwen2_config, train_tokenizer

    train, evals = load_data_dirs([synthetic_data["gsm8k"], synthetic_data["aime2024"]])
    tok = train_tokenizer(corpus_texts(train + [e for v in evals.values() for e in v]), 512)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(qwen2_config(tok, SIZES["smoke"]))
    out = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory) -> Path:
    """A small random character-level policy (trainer tests; a module may define its own)."""
    from tests.policy_fixtures import build_random_policy

    return build_random_policy(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    """16 addition prompts in the GSM8K answer format."""
    from tests.policy_fixtures import write_addition_prompts

    return write_addition_prompts(tmp_path_factory.mktemp("data") / "train.jsonl", n=16)
