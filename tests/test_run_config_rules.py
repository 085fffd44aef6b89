"""The run config's rules live in its fields' metadata and are checked once, when a RunConfig is built."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from gift import grid as G
from gift.errors import UserError
from gift.run.config import RULES, RunConfig, field_help

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def _base(tmp_path: Path) -> dict:
    # every optional field set to a valid value, so that one bad value is the only thing wrong
    return {"run_id": "r", "method": "gift", "model": "m", "train_data": "t.jsonl", "reward": "gsm8k",
            "output_dir": str(tmp_path / "run"), "max_steps": 2, "num_train_epochs": 1, "eval_data": "e.jsonl",
            "rollout_batch_prompts": 4, "optimizer_batch_prompts": 4}


def _refused(tmp_path: Path, **over) -> str:
    with pytest.raises(UserError) as err:
        RunConfig.from_dict({**_base(tmp_path), **over}, source="run.yaml")
    assert str(err.value).startswith("run.yaml: "), err.value
    return str(err.value)


def _bad_values(rules: dict) -> list:
    """Values just outside each rule of a field, computed from its metadata."""
    out = []
    if "choices" in rules:
        out.append("not-a-choice")
    if "min" in rules:
        out.append(rules["min"] - 1 if rules.get("sentinel", (None,))[0] != rules["min"] - 1 else rules["min"] - 2)
    if "gt" in rules:
        out.append(rules["gt"])
    if "lt" in rules:
        out.append(rules["lt"])
    if "chars" in rules:
        out.append("a b")
    return out


RULED = [(name, value) for name, f in FIELDS.items() for value in _bad_values(f.metadata)]


def test_every_field_has_help_and_only_known_rules():
    for name, f in FIELDS.items():
        assert f.metadata.get("help"), name
        assert set(f.metadata) - {"help"} <= set(RULES), (name, sorted(f.metadata))
    # the walk below covers the fields a person would expect to be bounded
    assert len({n for n, _ in RULED}) >= 20


@pytest.mark.parametrize(("name", "value"), RULED)
def test_a_value_outside_a_fields_rules_is_refused_naming_the_field(tmp_path, name, value):
    message = _refused(tmp_path, **{name: value})
    assert f"field {name!r}" in message, message
    assert repr(value) in message or str(value) in message, message


# Written out by hand, apart from the metadata: (field, values accepted, {value refused: words of its message}).
HAND = [
    ("seed", [0, 2**32 - 1], {-1: "must be >= 0", 2**32: "must be < 4294967296"}),
    ("max_steps", [1, -1], {0: ">= 1 (or -1: num_train_epochs decides)", -2: ">= 1 (or -1"}),
    ("num_train_epochs", [0.5, 2], {0: "must be > 0", -1.0: "must be > 0", "many": "must be a number"}),
    ("eval_temperature", [1e-9, 2], {0: "must be > 0", -0.5: "must be > 0"}),
    ("eval_k", [0, 8], {-1: "must be >= 0"}),
    ("save_every", [1], {0: "must be >= 1"}),
    ("eval_limit", [None, 1], {0: "must be >= 1 (or left out)"}),
    ("cadence_unit", ["update", "rollout_batch"], {"updates": "must be one of update, rollout_batch"}),
    ("rollout_backend", ["auto", "hf", "vllm"], {"sglang": "must be one of auto, hf, vllm"}),
    ("report_to", ["none", "tensorboard,wandb"], {"mlflow": "must be one of none, tensorboard, wandb, trackio",
                                                  "wandb,mlflow": "must be one of none, tensorboard"}),
    ("run_id", ["a.b_c=d+e-1"], {"a b": "may hold only letters, digits", "a/b": "may hold only letters"}),
]


@pytest.mark.parametrize(("name", "good", "bad"), HAND, ids=[h[0] for h in HAND])
def test_hand_listed_bounds(tmp_path, name, good, bad):
    for value in good:
        assert getattr(RunConfig.from_dict({**_base(tmp_path), name: value}), name) == value
    for value, words in bad.items():
        message = _refused(tmp_path, **{name: value})
        assert f"field {name!r}" in message and words in message, (value, message)


def test_a_yaml_1_1_number_string_is_read_as_a_number(tmp_path):
    assert RunConfig.from_dict({**_base(tmp_path), "num_train_epochs": "1e-3"}).num_train_epochs == 1e-3


def test_rules_that_tie_fields_together_stay_explicit(tmp_path):
    assert "must be positive unless num_train_epochs" in _refused(tmp_path, max_steps=-1, num_train_epochs=None)
    assert "joins 'none' with a tracker" in _refused(tmp_path, report_to="none,wandb")
    assert "must be set together" in _refused(tmp_path, optimizer_batch_prompts=None)
    assert "nothing to measure" in _refused(tmp_path, eval_k=0, eval_greedy=False)
    assert "field 'run_id' must not be empty" in _refused(tmp_path, run_id="  ")


def test_a_built_config_is_frozen_and_carries_its_checked_method_config(tmp_path):
    cfg = RunConfig.from_dict({**_base(tmp_path), "method_args": {"learning_rate": "2e-6", "num_generations": 4}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_steps = 0  # type: ignore[misc]
    mc = cfg.method_config
    # the registry's GIFT defaults with the overrides applied, the YAML-1.1 string read as a number
    assert mc["learning_rate"] == 2e-6 and mc["num_generations"] == 4 and mc["implicit_reference"] == "reference"
    mc["learning_rate"] = 1.0
    assert cfg.method_config["learning_rate"] == 2e-6, "a copy: the checked config cannot be changed through it"
    assert "method_config" not in dataclasses.asdict(cfg) and "method_args_where" not in FIELDS


def test_gift_train_reads_the_checked_method_config_without_checking_again(tmp_path, monkeypatch):
    import gift.methods
    from gift.run.train import _method_settings

    cfg = RunConfig.from_dict({**_base(tmp_path), "method_args": {"num_generations": 4}})

    def refuse(*args, **kwargs):
        raise AssertionError("method arguments checked a second time")

    monkeypatch.setattr(gift.methods, "method_config_kwargs", refuse)
    monkeypatch.setattr(gift.methods, "check_method_values", refuse)
    spec, method_kwargs, plan = _method_settings(cfg)
    assert spec.name == "gift" and method_kwargs["num_generations"] == 4
    # 4 prompts per rollout batch and per update on one process: one update per rollout batch
    assert plan["updates_per_rollout_batch"] == 1


def test_the_help_lists_every_field_with_its_rules():
    text = field_help()
    for name in FIELDS:
        assert f"\n  {name}: " in text, name
    assert "[one of update, rollout_batch; default: \"update\"]" in " ".join(text.split())
    assert "[>= 0; < 4294967296; default: 0]" in text


def test_the_workflow_schema_states_the_same_bounds_as_the_run_config():
    schema = yaml.safe_load(G.SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]["training"]["properties"]
    for key in G.TRAINING_KEYS:
        node, rules = schema[key], FIELDS[key].metadata
        if "sentinel" in rules:  # max_steps: -1 or >= 1
            assert node["minimum"] == rules["sentinel"][0] and node["not"] == {"const": 0}, key
        else:
            assert node.get("minimum") == rules.get("min"), key
        assert node.get("exclusiveMinimum") == rules.get("gt"), key
        if "several" in rules:
            assert all(c in node["pattern"] for c in rules["choices"]), key
        else:
            assert tuple(node.get("enum", ())) == tuple(rules.get("choices", ())), key


# A bad method argument is checked once, by the run config each run gets, and named by the key that wrote it.
def _tiny() -> dict:
    return G.load_config(ROOT / "config" / "tiny.yaml")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda c: c["experiments"]["fig5"]["overrides"][1]["method_args"].update(learning_rate=0),
     "experiments.fig5.overrides[1].method_args.learning_rate: must be > 0, got 0"),
    (lambda c: c["methods"]["grpo"]["args"].update(epsilon=-0.1),
     "methods.grpo.args.epsilon: must be >= 0"),
])
def test_a_bad_method_argument_names_where_the_config_wrote_it(edit, words):
    config = copy.deepcopy(_tiny())
    edit(config)
    G.validate(config)  # the schema leaves method arguments to the method's config
    with pytest.raises(G.ConfigError) as err:
        G.expand(config)
    assert words in str(err.value), str(err.value)


def test_a_bad_sweep_value_names_the_sweep():
    config = G.load_config(ROOT / "config" / "tiny_sweep.yaml")
    config["experiments"]["sweep_lr"]["sweep"]["values"][0] = -1.0e-5
    with pytest.raises(G.ConfigError, match=r"experiments\.sweep_lr\.sweep\.values\.learning_rate: must be > 0"):
        G.expand(config)
