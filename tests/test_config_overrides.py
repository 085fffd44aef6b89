"""Workflow settings: `snakemake --config` overrides typed as in a config file, and every training setting held
to the bounds and choices `gift train` applies to a run config, at the dry run."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from gift import grid as gift_grid
from gift.errors import UserError
from gift.run.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def _tiny() -> dict:
    return gift_grid.load_config(ROOT / "config" / "tiny.yaml")


def test_command_line_values_get_their_yaml_types_as_snakemake_parses_them():
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    overrides = parse_config(["seeds=[0]", "training={max_steps: 20, eval_temperature: 0.7, eval_greedy: true}"])
    assert overrides["seeds"] == ["0"], "Snakemake's own parse leaves list items as strings"
    config = _tiny()
    eval_every = config["training"]["eval_every"]
    update_config(config, overrides)
    with pytest.raises(gift_grid.ConfigError, match="is not of type 'integer'"):
        gift_grid.validate(copy.deepcopy(config))
    gift_grid.apply_typed_overrides(config, overrides)
    gift_grid.validate(config)
    assert config["seeds"] == [0]
    assert config["training"]["max_steps"] == 20 and config["training"]["eval_temperature"] == 0.7
    assert config["training"]["eval_greedy"] is True and config["training"]["eval_every"] == eval_every, "the rest is kept"


def _dry_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "config/tiny.yaml", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_dry_run_accepts_typed_overrides_and_refuses_an_out_of_range_training_setting():
    ok = _dry_run("--config", "seeds=[0]", "training={max_steps: 20}")
    assert ok.returncode == 0, ok.stderr[-2000:]
    bad = _dry_run("--config", "training={eval_temperature: 0}")
    assert bad.returncode != 0 and "training.eval_temperature: 0 is less than or equal to the minimum of 0" in bad.stderr


# One value out of `gift train`'s range per training setting: the workflow's schema refuses each one too.
OUT_OF_RANGE = [("max_steps", 0), ("max_steps", -2), ("num_train_epochs", 0), ("eval_every", -1), ("eval_limit", 0),
                ("save_every", 0), ("save_total_limit", 0), ("max_prompt_length", 0), ("train_limit", 0),
                ("eval_k", -1), ("eval_temperature", 0), ("eval_max_new_tokens", 0), ("rollout_batch_prompts", 0),
                ("optimizer_batch_prompts", 0), ("micro_batch_prompts", 0), ("report_to", "mlflow"),
                ("report_to", "none,wandb"), ("log_samples_every", -1), ("eval_greedy", "yes")]


@pytest.mark.parametrize(("key", "value"), OUT_OF_RANGE)
def test_every_training_bound_of_gift_train_is_in_the_workflow_schema(tmp_path, key, value):
    run = {"run_id": "r", "method": "grpo", "model": "m", "train_data": "t.jsonl", "reward": "gsm8k",
           "output_dir": str(tmp_path / "run"), "max_steps": 2, "num_train_epochs": 1, "eval_data": "e.jsonl",
           "rollout_batch_prompts": 4, "optimizer_batch_prompts": 4}
    with pytest.raises(UserError):
        RunConfig.from_dict({**run, key: value})
    for where in ("training", "experiment"):
        config = _tiny()
        section = config["training"] if where == "training" else config["experiments"]["fig3"].setdefault("training", {})
        section[key] = value
        with pytest.raises(gift_grid.ConfigError):
            gift_grid.validate(config)


def test_training_keys_of_the_grid_are_the_schemas_and_run_config_fields():
    import dataclasses

    import yaml

    schema = yaml.safe_load(gift_grid.SCHEMA_PATH.read_text())
    assert set(schema["$defs"]["training"]["properties"]) == set(gift_grid.TRAINING_KEYS)
    assert set(gift_grid.TRAINING_KEYS) <= {f.name for f in dataclasses.fields(RunConfig)}


def test_a_setting_the_schema_allows_but_gift_train_refuses_stops_the_grid():
    config = _tiny()
    del config["training"]["optimizer_batch_prompts"]
    del config["training"]["micro_batch_prompts"]
    gift_grid.validate(config)  # each field alone is in range
    with pytest.raises(gift_grid.ConfigError, match="rollout_batch_prompts/optimizer_batch_prompts"):
        gift_grid.expand(config)
