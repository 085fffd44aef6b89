"""One registry of methods: each name with its paper settings and its Table 1 properties (no TRL import).

Configs choose a method by name and override any field of its config dataclass; the classes themselves are
in `gift.trainers.TRAINERS`. Methods the paper only compares in Table 1 (DPO, UNA, PPO) are listed with
`trainable=False`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from gift.errors import UserError, did_you_mean


@dataclass(frozen=True)
class MethodSpec:
    """A method: its paper settings and how Table 1 describes it (its classes: gift.trainers.TRAINERS)."""

    name: str
    display_name: str
    citation: str
    properties: dict[str, Any]
    trainable: bool = True
    # the config class as error messages name it; gift.trainers.TRAINERS holds the class itself
    config_name: str | None = None
    # the paper's values of the fields TRL's GRPOConfig declares; the fields the suite's config classes declare
    # take their paper values from the class (see `defaults`)
    settings: dict[str, Any] = field(default_factory=dict)
    # smallest group: GRPO-style advantages need two responses; GIFT defines a group of one (its `singleton` rule), Fig 2a's N = 1
    min_generations: int = 2
    notes: str = ""

    @property
    def defaults(self) -> dict[str, Any]:
        """What a run gets for every field its config leaves out: the defaults of the fields the suite's config
        class declares (GIFTConfig's gift_beta, implicit_reference, ...) and the paper's settings of TRL's."""
        if not self.trainable:
            return dict(self.settings)
        return {**config_field_defaults(self.name), **self.settings}

    def config_fields(self) -> set[str]:
        return set(config_field_types(self.name))


# Settings shared by the paper's runs (docs/experiments.md#common-settings): N = 16 rollouts,
# 1024-token prompts and responses.
_COMMON = {"num_generations": 16, "max_completion_length": 1024, "temperature": 1.0, "num_train_epochs": 15}
# TRL turns on its vLLM importance-sampling correction by default (sequence_mask, cap 3.0); the author's verl
# runs of GRPO, DAPO and GSPO have none, and GIFT's and GFT's losses never read it (docs/experiments.md).
# A config turns it on with method_args.vllm_importance_sampling_correction: true.
_NO_IS_CORRECTION = {"vllm_importance_sampling_correction": False}

METHODS: dict[str, MethodSpec] = {
    "gift": MethodSpec(
        name="gift",
        display_name="GIFT",
        citation="Wang, GIFT: Group-relative Implicit Fine Tuning, arXiv 2510.23868",
        config_name="gift.trainers:GIFTConfig",
        min_generations=1,
        # gift_beta, implicit_aggregation, implicit_statistics, implicit_reference, singleton, zscore_eps:
        # GIFTConfig's defaults (the paper's)
        settings={**_COMMON, "learning_rate": 3e-6, "beta": 0.0},
        properties={"on_policy": True, "rl": False, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "MSE between group-normalised implicit and explicit rewards"},
    ),
    "grpo": MethodSpec(
        name="grpo",
        display_name="GRPO",
        citation="Shao et al., DeepSeekMath, arXiv 2402.03300",
        config_name="trl:GRPOConfig",
        settings={**_COMMON, "learning_rate": 1e-6, "beta": 0.001, "epsilon": 0.2, "loss_type": "dapo",
                  "scale_rewards": "group", "importance_sampling_level": "token", **_NO_IS_CORRECTION},
        properties={"on_policy": True, "rl": True, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "clipped policy gradient on group-normalised advantages + KL"},
        notes="verl's stock recipe: k3 KL at 0.001, clip 0.2, token-mean aggregation (TRL loss_type 'dapo').",
    ),
    "dapo": MethodSpec(
        name="dapo",
        display_name="DAPO",
        citation="Yu et al., DAPO, arXiv 2503.14476",
        config_name="gift.trainers:DAPOConfig",
        # dynamic_sampling, overlong_buffer: DAPOConfig's defaults
        settings={**_COMMON, "learning_rate": 1e-6, "beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.28,
                  "loss_type": "dapo", "scale_rewards": "group", **_NO_IS_CORRECTION},
        properties={"on_policy": True, "rl": True, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "clip-higher token-level policy gradient, no KL"},
    ),
    "gspo": MethodSpec(
        name="gspo",
        display_name="GSPO",
        citation="Zheng et al., Group Sequence Policy Optimization, arXiv 2507.18071",
        config_name="trl:GRPOConfig",
        settings={**_COMMON, "learning_rate": 1e-6, "beta": 0.0, "epsilon": 3e-4, "epsilon_high": 4e-4,
                  "loss_type": "grpo", "importance_sampling_level": "sequence", "scale_rewards": "group",
                  **_NO_IS_CORRECTION},
        properties={"on_policy": True, "rl": True, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "sequence-level clipped policy gradient, no KL"},
    ),
    "gft": MethodSpec(
        name="gft",
        display_name="GFT",
        citation="GFT: From Imitation to Reward Fine-Tuning with Unbiased Group Advantages and Dynamic Coefficient "
                 "Rectification, Findings of ACL 2026, arXiv 2604.14258",
        config_name="gift.trainers:GFTConfig",
        # n_expert, n_teacher, n_sampled, gft_tau, zscore_eps, fallback_to_sampling: GFTConfig's defaults
        settings={"learning_rate": 1e-6, "num_generations": 8, "beta": 0.0, "max_completion_length": 2048,
                  "temperature": 1.0, "num_train_epochs": 1, **_NO_IS_CORRECTION},
        # on_policy False: half of every group (expert and teacher members) is off-policy data.
        properties={"on_policy": False, "rl": True, "group_normalisation": True,
                    "data_type": "expert demonstration + teacher responses + sampled responses with verifiable rewards",
                    "loss": "rectified policy gradient on group-normalised advantages"},
        notes="Group of 8 = expert + 3 teachers + 4 sampled; tau 0.5 (0.1 for Qwen2.5-Math-1.5B); no KL, no "
              "clipping, no importance ratio; token-mean. The paper's batch (128 prompts per rollout batch, "
              "mini-batch 64 prompts, i.e. 2 optimizer steps per batch) depends on the number of processes, so "
              "configs set it: per_device_train_batch_size x gradient_accumulation_steps x processes = 64 x 8 rows, "
              "steps_per_generation = 2 x gradient_accumulation_steps.",
    ),
    "dpo": MethodSpec(
        name="dpo", display_name="DPO", citation="Rafailov et al., arXiv 2305.18290", trainable=False,
        min_generations=1,
        properties={"on_policy": False, "rl": False, "group_normalisation": False,
                    "data_type": "pairwise preference",
                    "loss": "-log sigmoid of the implicit reward margin"},
    ),
    "una": MethodSpec(
        name="una", display_name="UNA", citation="Wang et al., UNA, arXiv 2408.15339", trainable=False,
        min_generations=1,
        properties={"on_policy": False, "rl": False, "group_normalisation": False,
                    "data_type": "pairwise, binary or scalar feedback",
                    "loss": "MSE between implicit and explicit rewards"},
    ),
    "ppo": MethodSpec(
        name="ppo", display_name="PPO", citation="Schulman et al., arXiv 1707.06347", trainable=False,
        min_generations=1,
        properties={"on_policy": True, "rl": True, "group_normalisation": False,
                    "data_type": "sampled responses with reward-model scores",
                    "loss": "clipped policy gradient with a learned value baseline + KL"},
    ),
}

for _spec in METHODS.values():
    _spec.properties.setdefault("display_name", _spec.display_name)


def display_name(name: str) -> str:
    """The paper's spelling of a method ("GIFT"); an unregistered name in capitals."""
    spec = METHODS.get(name.lower())
    return spec.display_name if spec else name.upper()


def get_method(name: str) -> MethodSpec:
    """The registered method `name`; an unknown name is an error that lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        valid = ", ".join(n for n, s in METHODS.items() if s.trainable)
        trainable = [n for n, s in METHODS.items() if s.trainable]
        raise UserError(f"unknown method {name!r}{did_you_mean(name, trainable)}; trainable methods: {valid}") from None


def _field_cache_path() -> Path | None:
    """Where the config classes' field names and types are cached, keyed by what defines them."""
    h = hashlib.sha256()
    for pkg in ("trl", "transformers"):
        try:
            h.update(f"{pkg}={metadata.version(pkg)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{pkg}=none;".encode())
    here = Path(__file__).resolve().parent
    for source in [here / "methods.py", *sorted((here / "trainers").glob("*.py"))]:
        h.update(source.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gift"
    return cache / f"method-fields-{h.hexdigest()[:16]}.json"


_FIELDS: dict[str, dict[str, dict]] = {}


def _config_fields(name: str) -> dict[str, dict]:
    """{field: {"type": annotation text, "choices": [...] or None, "default": ...}} of a method's config dataclass.

    "default" is there for the fields the suite's class declares itself (not TRL's GRPOConfig) with a default
    other than None: the paper values the registry does not restate. Importing the config classes costs seconds
    (TRL, transformers, torch), and the workflow checks method arguments every time it builds its DAG, so the
    answer is cached on disk, keyed by the TRL and transformers versions and the source of the suite's config
    classes.
    """
    if name in _FIELDS:
        return _FIELDS[name]
    spec = get_method(name)
    path = _field_cache_path()
    cached: dict = {}
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if spec.name not in cached:
        from trl import GRPOConfig

        from gift.trainers.registry import method_classes

        inherited = {f.name for f in dataclasses.fields(GRPOConfig)}
        cached[spec.name] = {f.name: _field_entry(f, declared=f.name not in inherited)
                             for f in dataclasses.fields(method_classes(spec.name).config)}
        try:
            from gift.files import write_json

            write_json(path, cached)
        except OSError:  # a read-only home: no cache, same answer
            pass
    _FIELDS[spec.name] = cached[spec.name]
    return _FIELDS[spec.name]


def _field_entry(f: dataclasses.Field, declared: bool) -> dict[str, Any]:
    entry = {"type": f.type if isinstance(f.type, str) else _type_text(f.type),
             # the Hugging Face convention for a closed set of values (HfArgumentParser reads it too)
             "choices": [str(c) for c in f.metadata["choices"]] if "choices" in f.metadata else None}
    if declared and f.default is not dataclasses.MISSING and f.default is not None:
        entry["default"] = f.default
    return entry


def config_field_defaults(name: str) -> dict[str, Any]:
    """{field: default} of the fields a method's config class declares itself (GIFTConfig's implicit_reference, ...)."""
    return {k: v["default"] for k, v in _config_fields(name).items() if "default" in v}


def config_field_types(name: str) -> dict[str, str]:
    """{field: annotation text} of a method's config dataclass."""
    return {k: v["type"] for k, v in _config_fields(name).items()}


def config_field_choices(name: str) -> dict[str, list[str]]:
    """{field: valid values} for the fields of a method's config that take one of a closed set of values."""
    return {k: v["choices"] for k, v in _config_fields(name).items() if v["choices"] is not None}


def _type_text(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


# Ranges of the method settings that TRL does not check itself and that fail late (or silently) when wrong.
_AT_LEAST_1 = ("max_completion_length", "per_device_train_batch_size", "gradient_accumulation_steps",
               "steps_per_generation", "generation_batch_size", "num_iterations", "max_prompt_length", "n_sampled")
_POSITIVE = ("learning_rate", "temperature", "gift_beta")
_NON_NEGATIVE = ("beta", "epsilon", "epsilon_high", "zscore_eps", "max_grad_norm", "weight_decay",
                 "warmup_ratio", "n_expert", "n_teacher", "overlong_buffer")


def _at(where: str, where_of: Mapping[str, str] | None, key: str) -> str:
    """`where.key`, or the place `where_of` says the key was written (`experiments.fig3.method_args.key`)."""
    return f"{(where_of or {}).get(key, where)}.{key}"


def check_method_values(name: str, kwargs: dict[str, Any], where: str = "method_args",
                        where_of: Mapping[str, str] | None = None) -> None:
    """Each setting's type (from its config field) and range; a UserError names `where`.key and the fix."""
    types = config_field_types(name)
    choices = config_field_choices(name)
    for key, value in kwargs.items():
        at = _at(where, where_of, key)
        if key in choices and value is not None and str(value) not in choices[key]:
            raise UserError(f"{at}: must be one of {', '.join(choices[key])}, got {value!r}"
                            f"{did_you_mean(str(value), choices[key])}")
        kinds = {k.strip() for k in types.get(key, "").replace("Optional[", "").rstrip("]").split("|")}
        if value is None:
            if kinds and kinds <= {"int", "float", "bool", "str"}:
                raise UserError(f"{at}: must be set (null is not allowed for a {types[key]} field)")
            continue
        if kinds <= {"int", "float", "bool", "str", "None", "NoneType"} and kinds - {"None", "NoneType"}:
            ok = (("int" in kinds and isinstance(value, int) and not isinstance(value, bool))
                  or ("float" in kinds and isinstance(value, int | float) and not isinstance(value, bool))
                  or ("bool" in kinds and isinstance(value, bool))
                  or ("str" in kinds and isinstance(value, str)))
            if not ok:
                words = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
                want = " or ".join(words[k] for k in sorted(kinds) if k in words)
                raise UserError(f"{at}: must be {want}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{at}: must be a finite number, got {value!r}")
        if key in _AT_LEAST_1 and value < 1:
            raise UserError(f"{at}: must be >= 1, got {value!r}")
        if key in _POSITIVE and value <= 0:
            raise UserError(f"{at}: must be > 0, got {value!r}")
        if key in _NON_NEGATIVE and value < 0:
            raise UserError(f"{at}: must be >= 0, got {value!r}")


def check_method_arg_names(name: str, args: dict[str, Any], where: str = "method_args",
                           where_of: Mapping[str, str] | None = None) -> None:
    """Every key of `args` must be a field of the method's config; a UserError names it and the closest ones."""
    if not isinstance(args, dict):
        raise UserError(f"{where}: must be a mapping of {get_method(name).config_name} fields, got {args!r}")
    valid = config_field_types(name)
    unknown = sorted(set(args) - set(valid))
    if unknown:
        hints = "; ".join(f"{_at(where, where_of, k)}{did_you_mean(k, valid)}" for k in unknown)
        raise UserError(f"method {name!r}: unknown config field(s): {hints}; the fields are those of "
                        f"{get_method(name).config_name} (see its help texts)")


def method_config_kwargs(name: str, overrides: dict[str, Any] | None = None, where: str = "method_args",
                         where_of: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The method's paper defaults with `overrides` applied; unknown fields and bad values are errors.

    An unknown field's error names the closest valid ones; a value of the wrong type or range names the
    field (`where.key`, or where `where_of` says the key was written) and the valid range.
    """
    spec = get_method(name)
    if not spec.trainable:
        raise ValueError(f"method {name!r} is not trainable in this suite (Table 1 only)")
    overrides = dict(overrides or {})
    check_method_arg_names(name, overrides, where, where_of)
    types = config_field_types(name)
    overrides = {k: _coerce_number(types[k], _at(where, where_of, k), v) for k, v in overrides.items()}
    kwargs = {**spec.defaults, **overrides}
    check_method_values(name, kwargs, where, where_of)
    n = kwargs.get("num_generations")
    if n is not None and n < spec.min_generations:
        raise UserError(f"method {name!r}: num_generations must be >= {spec.min_generations}, got {n}")
    return kwargs


def _coerce_number(annotation: str, name: str, value: Any) -> Any:
    """YAML reads `1e-6` as a string (YAML 1.1): turn such strings into the field's number type."""
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        if kind.__name__ in annotation.replace("Optional", ""):
            try:
                return kind(value) if kind is float or value.strip().lstrip("-").isdigit() else float(value)
            except ValueError:
                if "str" not in annotation:
                    raise UserError(f"{name}: must be a number, got {value!r}") from None
    return value
