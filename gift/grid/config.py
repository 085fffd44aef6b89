"""The workflow config before expansion: read it, check it against the schema, and check that every name
its parts use is defined and that they fit together. A ConfigError names the key path and the reason.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from gift.files import asset_path

SCHEMA_PATH = asset_path("schemas", "config.schema.yaml")


class ConfigError(ValueError):
    """A config that the schema accepts but whose parts do not fit together (names the key path)."""


def load_config(path: str | Path) -> dict:
    """Read a YAML config (no validation); a missing, malformed or non-UTF-8 file is an error naming it."""
    from gift.files import read_yaml

    try:
        cfg = read_yaml(path, "workflow config")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a config is a YAML mapping")
    return cfg


def _typed(value: object) -> object:
    """A value as a YAML config file would hold it: strings read again as YAML scalars, inside lists and maps."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        # only scalars: a string that reads as a list or a map was meant as a string
        return parsed if isinstance(parsed, int | float | bool) or parsed is None else value
    return value


def apply_typed_overrides(config: dict, overrides: dict) -> None:
    """Give the values of Snakemake's `--config` their YAML types in `config`, where they were merged.

    Snakemake reads `--config key=VALUE` with YAML's base loader, so every value inside a list or a map
    arrives as a string (`seeds=[0]` gives ['0'], `training={max_steps: 20}` gives {'max_steps': '20'}); each
    overridden leaf is read again as a YAML scalar, the way the same value in a config file is read.
    """
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            apply_typed_overrides(config[key], value)
        elif key in config:
            config[key] = _typed(value)


def validate(config: dict, schema_path: str | Path = SCHEMA_PATH) -> None:
    """Check `config` against the workflow's JSON schema; a ConfigError names the key path and the reason."""
    import jsonschema

    with open(schema_path, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}" for e in errors[:20]]
        raise ConfigError(f"config does not match {Path(schema_path).name}:\n" + "\n".join(lines))


def load_checked(path: str | Path) -> dict:
    """A workflow config read and checked against the schema, as every `--config` command starts."""
    config = load_config(path)
    validate(config)
    return config


def sweep_values(exp: dict, method: str) -> list:
    """The values a sweep experiment gives `method` (one list for every method, or one per method)."""
    values = exp["sweep"]["values"]
    return list(values[method] if isinstance(values, dict) else values)


def _eval_split(dataset: str) -> str | None:
    """The eval split `gift data prepare` gives a dataset (the registry's), or None."""
    from gift.data.registry import REGISTRY

    reg = REGISTRY.get(dataset)
    return reg.eval_split if reg else None


def check_references(config: dict) -> None:
    """Names an experiment uses must be defined; a ConfigError names the key path."""
    for section in ("backbones", "datasets", "methods"):
        if not config.get(section):
            raise ConfigError(f"{section}: must define at least one entry")
    _check_dataset_rewards(config)
    _check_builds(config)
    _check_judges(config)
    for ename, exp in config["experiments"].items():
        _check_experiment(config, ename, exp)


def _check_dataset_rewards(config: dict) -> None:
    """Each dataset's reward can score it: verifiable for data with ground truths, the reward model otherwise."""
    from gift.data.prepare import check_reward

    for name, spec in config["datasets"].items():
        try:
            check_reward(name, spec.get("reward"))
        except ValueError as err:
            raise ConfigError(f"datasets.{name}.reward: {err}") from None


def _check_builds(config: dict) -> None:
    """Tiny models the workflow builds read defined datasets; a backbone's warm start needs an RLVR eval split."""
    for name, spec in config["backbones"].items():
        _check_build_data(config, f"backbones.{name}", spec)
        if spec.get("build") and not any(_eval_split(d) for d in spec["build"]["data"]):
            raise ConfigError(
                f"backbones.{name}.build.data: a backbone's warm start is checked on an RLVR eval split, and none of "
                f"{spec['build']['data']} has one; add one (e.g. gsm8k, math or aime2024)")
    for name, spec in (config.get("reward_models") or {}).items():
        _check_build_data(config, f"reward_models.{name}", spec)


def _check_build_data(config: dict, where: str, spec: dict) -> None:
    for d in (spec.get("build") or {}).get("data", []):
        if d not in config["datasets"]:
            raise ConfigError(f"{where}.build.data: unknown dataset {d!r}")


def _check_judges(config: dict) -> None:
    """A reward-model judge names a defined reward model."""
    rms = config.get("reward_models") or {}
    for kind in ("alpaca_eval", "arena_hard"):
        judge = str((config.get("evaluation") or {}).get(kind, {}).get("judge", ""))
        if judge.startswith("reward-model:") and judge.split(":", 1)[1] not in rms:
            raise ConfigError(f"evaluation.{kind}.judge: unknown reward model {judge.split(':', 1)[1]!r}")


def _check_experiment(config: dict, ename: str, exp: dict) -> None:
    """One experiment: its backbones, methods, data, reward model, figures, tables, variants, sweep and
    evaluations exist and fit together."""
    where = f"experiments.{ename}"
    for b in exp["backbones"]:
        if b not in config["backbones"]:
            raise ConfigError(f"{where}.backbones: unknown backbone {b!r} (defined: {', '.join(config['backbones'])})")
    for m in exp["methods"]:
        if m not in config["methods"]:
            raise ConfigError(f"{where}.methods: method {m!r} has no entry in `methods`")
    _check_experiment_data(config, where, exp)
    if exp.get("reward_model") and exp["reward_model"] not in (config.get("reward_models") or {}):
        raise ConfigError(f"{where}.reward_model: unknown reward model {exp['reward_model']!r}")
    for key in ("figures", "tables"):
        for name in exp.get(key, []):
            if name not in config["report"][key]:
                raise ConfigError(f"{where}.{key}: {name!r} is not in report.{key}")
    for v in exp.get("variants") or []:
        for m in v.get("methods", []):
            if m not in exp["methods"]:
                raise ConfigError(f"{where}.variants.{v['name']}.methods: {m!r} is not a method of the experiment")
    if exp.get("sweep"):
        _check_sweep(config, ename, exp)
    _check_evaluations(config, where, exp)


def _check_experiment_data(config: dict, where: str, exp: dict) -> None:
    """Each data entry names defined datasets; data scored by a reward model needs the experiment to name one."""
    for i, d in enumerate(exp["data"]):
        for role in ("train", "eval"):
            if d.get(role) and d[role] not in config["datasets"]:
                raise ConfigError(f"{where}.data[{i}].{role}: unknown dataset {d[role]!r}")
        if config["datasets"][d["train"]].get("reward") == "reward_model" and not exp.get("reward_model"):
            raise ConfigError(f"{where}.reward_model: dataset {d['train']!r} is scored by a reward model; name one")


def _check_evaluations(config: dict, where: str, exp: dict) -> None:
    """rlvr needs an eval dataset in every data entry (a kind without its `evaluation` section is skipped)."""
    for kind in exp.get("evaluate", []):
        if kind == "rlvr" and any(not d.get("eval") for d in exp["data"]):
            raise ConfigError(f"{where}.evaluate: rlvr needs an eval dataset in every data entry")


def _check_sweep(config: dict, ename: str, exp: dict) -> None:
    """A sweep compares methods at an equal tuning budget: same number of points per method, seeds shared."""
    where = f"experiments.{ename}.sweep"
    sweep = exp["sweep"]
    arg = sweep["arg"]
    values = sweep["values"]
    if isinstance(values, dict):
        missing = [m for m in exp["methods"] if m not in values]
        extra = [m for m in values if m not in exp["methods"]]
        if missing or extra:
            raise ConfigError(f"{where}.values: give values for exactly the experiment's methods "
                              f"({', '.join(exp['methods'])}); missing {missing or 'none'}, extra {extra or 'none'}")
        counts = {m: len(values[m]) for m in exp["methods"]}
        if len(set(counts.values())) > 1:
            raise ConfigError(f"{where}.values: every method needs the same number of sweep points (an equal "
                              f"tuning budget), got {counts}")
    for m in exp["methods"]:
        vals = sweep_values(exp, m)
        if len(set(map(str, vals))) != len(vals):
            raise ConfigError(f"{where}.values: method {m!r} lists a value twice: {vals}")
    for v in exp.get("variants") or []:
        if arg in v.get("args", {}):
            raise ConfigError(f"experiments.{ename}.variants.{v['name']}: sets the swept argument {arg!r}")
    for d in exp["data"]:
        if not config["datasets"][d["train"]].get("selection"):
            raise ConfigError(f"datasets.{d['train']}.selection: experiment {ename!r} sweeps {arg!r} and picks its "
                              f"values on a held-out selection split; set `selection: N` (train examples held out)")
    if exp.get("evaluate") or exp.get("tables"):
        raise ConfigError(f"{where}: a sweep's runs are compared in its figure and claims only; give the "
                          "experiment no `evaluate` or `tables`")
    pick = (sweep.get("select") or {}).get("seeds")
    if pick is not None:
        seeds = exp.get("seeds", config["seeds"])
        unknown = [x for x in pick if x not in seeds]
        if unknown:
            raise ConfigError(f"{where}.select.seeds: {unknown} are not seeds of the experiment ({seeds})")
        if set(pick) == set(seeds):
            raise ConfigError(f"{where}.select.seeds: every seed picks the value, so none is left to confirm the "
                              f"picks; leave at least one of {seeds} out (or drop select.seeds)")
