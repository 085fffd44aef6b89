"""One registry of methods: each name with its trainer, its paper defaults and its Table 1 properties.

Configs choose a method by name and override any field of its config dataclass. Methods the
paper only compares in Table 1 (DPO, UNA, PPO) are listed with `trainable=False`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MethodSpec:
    """A method: how to train it, with which defaults, and how Table 1 describes it."""

    name: str
    display_name: str
    citation: str
    properties: dict[str, Any]
    trainable: bool = True
    config_class: str | None = None  # "module:Class"
    trainer_class: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    # smallest group: GRPO-style advantages need two responses; GIFT defines a group of one (its `singleton` rule), Fig 2a's N = 1
    min_generations: int = 2
    notes: str = ""

    def load(self, which: str) -> type:
        target = {"config": self.config_class, "trainer": self.trainer_class}[which]
        if target is None:
            raise ValueError(f"method {self.name!r} is not trainable in this suite (Table 1 only)")
        module, name = target.split(":")
        return getattr(importlib.import_module(module), name)

    def config_fields(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self.load("config"))}


# Settings shared by the paper's runs (docs/experiments.md#common-settings): N = 16 rollouts,
# 1024-token prompts and responses.
_COMMON = {"num_generations": 16, "max_completion_length": 1024, "temperature": 1.0, "num_train_epochs": 15}

METHODS: dict[str, MethodSpec] = {
    "gift": MethodSpec(
        name="gift",
        display_name="GIFT",
        citation="Wang, GIFT: Group-relative Implicit Fine Tuning, arXiv 2510.23868",
        config_class="gift.trainers:GIFTConfig",
        trainer_class="gift.trainers:GIFTTrainer",
        min_generations=1,
        defaults={**_COMMON, "learning_rate": 3e-6, "gift_beta": 1.0, "beta": 0.0, "implicit_aggregation": "sum",
                  "implicit_statistics": "detached", "implicit_reference": "reference", "singleton": "author",
                  "zscore_eps": 1e-6},
        properties={"on_policy": True, "rl": False, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "MSE between group-normalised implicit and explicit rewards"},
    ),
    "grpo": MethodSpec(
        name="grpo",
        display_name="GRPO",
        citation="Shao et al., DeepSeekMath, arXiv 2402.03300",
        config_class="trl:GRPOConfig",
        trainer_class="trl:GRPOTrainer",
        defaults={**_COMMON, "learning_rate": 1e-6, "beta": 0.001, "epsilon": 0.2, "loss_type": "dapo",
                  "scale_rewards": "group", "importance_sampling_level": "token"},
        properties={"on_policy": True, "rl": True, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "clipped policy gradient on group-normalised advantages + KL"},
        notes="verl's stock recipe: k3 KL at 0.001, clip 0.2, token-mean aggregation (TRL loss_type 'dapo').",
    ),
    "dapo": MethodSpec(
        name="dapo",
        display_name="DAPO",
        citation="Yu et al., DAPO, arXiv 2503.14476",
        config_class="gift.trainers:DAPOConfig",
        trainer_class="gift.trainers:DAPOTrainer",
        defaults={**_COMMON, "learning_rate": 1e-6, "beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.28,
                  "loss_type": "dapo", "scale_rewards": "group", "dynamic_sampling": True, "overlong_buffer": 0},
        properties={"on_policy": True, "rl": True, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "clip-higher token-level policy gradient, no KL"},
    ),
    "gspo": MethodSpec(
        name="gspo",
        display_name="GSPO",
        citation="Zheng et al., Group Sequence Policy Optimization, arXiv 2507.18071",
        config_class="trl:GRPOConfig",
        trainer_class="trl:GRPOTrainer",
        defaults={**_COMMON, "learning_rate": 1e-6, "beta": 0.0, "epsilon": 3e-4, "epsilon_high": 4e-4,
                  "loss_type": "grpo", "importance_sampling_level": "sequence", "scale_rewards": "group"},
        properties={"on_policy": True, "rl": True, "group_normalisation": True,
                    "data_type": "group of sampled responses with explicit rewards",
                    "loss": "sequence-level clipped policy gradient, no KL"},
    ),
    "gft": MethodSpec(
        name="gft",
        display_name="GFT",
        citation="GFT: From Imitation to Reward Fine-Tuning with Unbiased Group Advantages and Dynamic Coefficient "
                 "Rectification, Findings of ACL 2026, arXiv 2604.14258",
        config_class="gift.trainers:GFTConfig",
        trainer_class="gift.trainers:GFTTrainer",
        defaults={"learning_rate": 1e-6, "num_generations": 8, "n_expert": 1, "n_teacher": 3, "n_sampled": 4,
                  "gft_tau": 0.5, "beta": 0.0, "max_completion_length": 2048, "temperature": 1.0,
                  "num_train_epochs": 1, "zscore_eps": 1e-6, "fallback_to_sampling": False},
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


def get_method(name: str) -> MethodSpec:
    """The registered method `name`; an unknown name is an error that lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        valid = ", ".join(n for n, s in METHODS.items() if s.trainable)
        raise ValueError(f"unknown method {name!r}; trainable methods: {valid}") from None


def method_config_kwargs(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The method's paper defaults with `overrides` applied; unknown fields are errors naming near matches."""
    spec = get_method(name)
    valid = spec.config_fields()
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - valid)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(valid), n=3)
            hints.append(f"{key!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ValueError(
            f"method {name!r}: unknown config field(s) {', '.join(hints)}; the fields are those of "
            f"{spec.config_class} (see its help texts)"
        )
    fields = {f.name: f for f in dataclasses.fields(spec.load("config"))}
    overrides = {k: _coerce_number(fields[k], k, v) for k, v in overrides.items()}
    kwargs = {**spec.defaults, **overrides}
    n = kwargs.get("num_generations")
    if n is not None and n < spec.min_generations:
        raise ValueError(f"method {name!r}: num_generations must be >= {spec.min_generations}, got {n}")
    return kwargs


def _coerce_number(f: dataclasses.Field, name: str, value: Any) -> Any:
    """YAML reads `1e-6` as a string (YAML 1.1): turn such strings into the field's number type."""
    if not isinstance(value, str):
        return value
    annotation = str(f.type)
    for kind in (int, float):
        if kind.__name__ in annotation.replace("Optional", ""):
            try:
                return kind(value) if kind is float or value.strip().lstrip("-").isdigit() else float(value)
            except ValueError:
                if "str" not in annotation:
                    raise ValueError(f"config field {name!r} expects a number, got {value!r}") from None
    return value
