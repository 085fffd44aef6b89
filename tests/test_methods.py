"""The method registry: which passes each method's config says it runs, its classes and its field cache."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gift import methods as M
from gift.trainers import passes as P

ROOT = Path(__file__).resolve().parent.parent

# A rollout batch feeding one optimizer update, and one feeding four (the paper's GIFT config).
ONE = {"gradient_accumulation_steps": 4, "steps_per_generation": 4, "num_iterations": 1}
FOUR = {"gradient_accumulation_steps": 4, "steps_per_generation": 16, "num_iterations": 1}
TWO_ITERATIONS = {"gradient_accumulation_steps": 4, "steps_per_generation": 4, "num_iterations": 2}

# (method, fields, vLLM rollouts?) -> (reference pass, old log-prob pass), worked out from the trainers' rules:
# TRL scores under pi_ref when beta != 0 and under the sampling policy when a rollout batch feeds several
# updates or vLLM's importance-sampling correction is on; GIFT's implicit reward against pi_ref needs pi_ref,
# against the rollout policy needs old log-probs once the policy has moved; GFT never needs old log-probs.
TABLE = [
    ("gift", {"implicit_reference": "reference", "beta": 0.0, **ONE}, False, (1, 0)),
    ("gift", {"implicit_reference": "reference", "beta": 0.0, **FOUR}, False, (1, 0)),
    ("gift", {"implicit_reference": "rollout", "beta": 0.0, **ONE}, False, (0, 0)),
    ("gift", {"implicit_reference": "rollout", "beta": 0.0, **FOUR}, False, (0, 1)),
    ("gift", {"implicit_reference": "rollout", "beta": 0.0, **TWO_ITERATIONS}, False, (0, 1)),
    ("gift", {"implicit_reference": "rollout", "beta": 0.01, **ONE}, False, (1, 0)),
    ("gift", {"implicit_reference": "rollout", "beta": 0.0, **ONE}, True, (0, 0)),
    ("grpo", {"beta": 0.001, **ONE}, False, (1, 0)),
    ("grpo", {"beta": 0.001, **FOUR}, False, (1, 1)),
    ("grpo", {"beta": 0.0, **ONE, "vllm_importance_sampling_correction": True}, True, (0, 1)),
    ("grpo", {"beta": 0.0, **ONE, "vllm_importance_sampling_correction": False}, True, (0, 0)),
    ("gspo", {"beta": 0.0, **ONE}, False, (0, 0)),
    ("dapo", {"beta": 0.0, **FOUR}, False, (0, 1)),
    ("gft", {"beta": 0.0, **FOUR}, False, (0, 0)),
    ("gft", {"beta": 0.0, **FOUR}, True, (0, 0)),
]


def _fields(method: str, fields: dict, use_vllm: bool) -> dict:
    return {"vllm_importance_sampling_correction": False, **fields, "use_vllm": use_vllm}


@pytest.mark.parametrize(("method", "fields", "use_vllm", "want"), TABLE)
def test_passes_follow_the_hand_table(method, fields, use_vllm, want):
    args = _fields(method, fields, use_vllm)
    assert (P.needs_reference(method, args), P.needs_old_logps(method, args)) == tuple(map(bool, want))
    assert P.forward_passes(method, args) == P.ForwardPasses(reference=want[0], old_policy=want[1], policy=1)


@pytest.mark.parametrize(("method", "fields", "use_vllm", "want"), [c for c in TABLE if not c[2]])
def test_the_config_classes_answer_as_the_table(method, fields, use_vllm, want, tmp_path):
    """The config a trainer reads answers the same (vLLM rows left out: a config with use_vllm needs vLLM)."""
    from gift.trainers.registry import method_classes

    overrides = {k: v for k, v in fields.items() if k != "vllm_importance_sampling_correction"}
    if method == "gft":
        overrides |= {"n_expert": 0, "n_teacher": 0, "n_sampled": 2}
    config = method_classes(method).config(
        **M.method_config_kwargs(method, {**overrides, "num_generations": 2, "per_device_train_batch_size": 2}),
        output_dir=str(tmp_path), use_cpu=True, bf16=False)
    assert (config.needs_reference, config.needs_old_logps) == tuple(map(bool, want))
    assert config.forward_passes.extra() == {"reference": want[0], "old_policy": want[1]}


def test_an_unknown_method_has_no_pass_rule():
    with pytest.raises(ValueError, match="no forward-pass rule for method 'ppo'"):
        P.forward_passes("ppo", {"beta": 0.0})


def test_the_registry_maps_each_trainable_method_to_its_classes():
    import trl

    from gift.trainers import TRAINERS, DAPOConfig, DAPOTrainer, GFTConfig, GFTTrainer, GIFTConfig, GIFTTrainer

    assert set(TRAINERS) == {name for name, spec in M.METHODS.items() if spec.trainable}
    assert TRAINERS["gift"] == (GIFTConfig, GIFTTrainer)
    assert TRAINERS["dapo"] == (DAPOConfig, DAPOTrainer)
    assert TRAINERS["gft"] == (GFTConfig, GFTTrainer)
    for name in ("grpo", "gspo"):
        config, trainer = TRAINERS[name]
        assert trainer is trl.GRPOTrainer and issubclass(config, trl.GRPOConfig)
        # TRL's fields, none added: a GRPO run gets the config it always got
        assert [f.name for f in dataclasses.fields(config)] == [f.name for f in dataclasses.fields(trl.GRPOConfig)]
    for name, (config, _) in TRAINERS.items():
        assert config.method_name == name
        # the name error messages give is where the class is found
        module, cls = M.METHODS[name].config_name.split(":")
        assert issubclass(config, getattr(__import__(module, fromlist=[cls]), cls))
    from gift.trainers.registry import method_classes

    with pytest.raises(ValueError, match="not trainable"):
        method_classes("ppo")


def test_train_builds_the_registry_classes(tmp_path, monkeypatch):
    """`gift train` builds its config and trainer from the registry: a stand-in trainer there is the one it builds."""
    import gift.run.train as T
    from gift.trainers import registry

    built = []

    class StopHere(registry.TRAINERS["gift"].trainer):
        def __init__(self, *args, **kwargs):
            built.append(type(kwargs["args"]))
            raise RuntimeError("stop: trainer built")

    monkeypatch.setitem(registry.TRAINERS, "gift", registry.MethodClasses(registry.TRAINERS["gift"].config, StopHere))
    from tests.policy_fixtures import build_random_policy, write_addition_prompts

    policy = build_random_policy(tmp_path / "policy", hidden=16, layers=1)
    with pytest.raises(RuntimeError, match="stop: trainer built"):
        T.train({"run_id": "r", "method": "gift", "model": str(policy), "reward": "gsm8k",
                 "train_data": str(write_addition_prompts(tmp_path / "train.jsonl")),
                 "output_dir": str(tmp_path / "run"), "max_steps": 1,
                 "method_args": {"num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 4}})
    assert built == [registry.TRAINERS["gift"].config]


# What a run gets for a field its config leaves out: the paper's values (docs/experiments.md), written out
# here by hand. Run directories compare these on resume, so moving a default must not change them.
PAPER = {
    "gift": {"num_generations": 16, "max_completion_length": 1024, "temperature": 1.0, "num_train_epochs": 15,
             "learning_rate": 3e-6, "beta": 0.0, "gift_beta": 1.0, "implicit_aggregation": "sum",
             "implicit_statistics": "detached", "implicit_reference": "reference", "singleton": "author",
             "zscore_eps": 1e-6},
    "dapo": {"num_generations": 16, "max_completion_length": 1024, "temperature": 1.0, "num_train_epochs": 15,
             "learning_rate": 1e-6, "beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.28, "loss_type": "dapo",
             "scale_rewards": "group", "dynamic_sampling": True, "overlong_buffer": 0,
             "vllm_importance_sampling_correction": False},
    "gft": {"learning_rate": 1e-6, "num_generations": 8, "n_expert": 1, "n_teacher": 3, "n_sampled": 4,
            "gft_tau": 0.5, "beta": 0.0, "max_completion_length": 2048, "temperature": 1.0, "num_train_epochs": 1,
            "zscore_eps": 1e-6, "fallback_to_sampling": False, "vllm_importance_sampling_correction": False},
}


@pytest.mark.parametrize("method", sorted(PAPER))
def test_a_run_gets_the_paper_values(method):
    assert M.method_config_kwargs(method) == PAPER[method]
    assert M.get_method(method).defaults == PAPER[method]


def test_each_default_is_written_once():
    """The registry restates no default of a field the suite's config classes declare: the class holds it."""
    from gift.trainers import TRAINERS

    for name, spec in M.METHODS.items():
        if not spec.trainable:
            continue
        declared = set(M.config_field_defaults(name))
        assert not declared & set(spec.settings), name
        config = TRAINERS[name].config
        for key, value in M.config_field_defaults(name).items():
            assert value == config.__dataclass_fields__[key].default, (name, key)


def test_the_field_cache_agrees_with_the_classes(tmp_path, monkeypatch):
    """A cold cache is built from the classes, and what is read back from disk is the same."""
    import trl

    from gift.trainers import TRAINERS

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(M, "_FIELDS", {})
    trl_fields = {f.name for f in dataclasses.fields(trl.GRPOConfig)}
    for name, (config, _) in TRAINERS.items():
        fields = dataclasses.fields(config)
        assert M.config_field_types(name) == {
            f.name: f.type if isinstance(f.type, str) else M._type_text(f.type) for f in fields}
        assert M.config_field_choices(name) == {
            f.name: [str(c) for c in f.metadata["choices"]] for f in fields if "choices" in f.metadata}
        assert M.config_field_defaults(name) == {
            f.name: f.default for f in fields if f.name not in trl_fields and f.default is not None}
    (cache,) = tmp_path.joinpath("gift").glob("method-fields-*.json")
    monkeypatch.setattr(M, "_FIELDS", {})
    on_disk = json.loads(cache.read_text())
    assert set(on_disk) == set(TRAINERS)
    for name in TRAINERS:
        fresh = {k: dict(v) for k, v in on_disk[name].items()}
        assert M._config_fields(name) == fresh
    assert M.config_field_defaults("gift")["implicit_reference"] == "reference"


def test_the_light_modules_import_neither_trl_nor_torch():
    """The workflow imports these while Snakemake parses it; TRL costs seconds there."""
    code = ("import sys, gift.estimate, gift.gpu_memory, gift.grid, gift.methods, gift.trainers.passes; "
            "print(sorted(m for m in ('trl', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
