"""The trainable methods by name: each one's config class and trainer class, imported (this imports TRL)."""

from __future__ import annotations

from typing import NamedTuple

from trl import GRPOTrainer

from gift.trainers.baselines import DAPOConfig, DAPOTrainer, GRPOConfig, GSPOConfig
from gift.trainers.gft_trainer import GFTConfig, GFTTrainer
from gift.trainers.gift_trainer import GIFTConfig, GIFTTrainer


class MethodClasses(NamedTuple):
    """A method's config dataclass and the trainer that takes it as `args`."""

    config: type
    trainer: type


# gift.methods holds the light side of each method (display name, paper defaults, Table 1 properties);
# a test checks that both list the same trainable methods.
TRAINERS: dict[str, MethodClasses] = {
    "gift": MethodClasses(GIFTConfig, GIFTTrainer),
    "grpo": MethodClasses(GRPOConfig, GRPOTrainer),
    "dapo": MethodClasses(DAPOConfig, DAPOTrainer),
    "gspo": MethodClasses(GSPOConfig, GRPOTrainer),
    "gft": MethodClasses(GFTConfig, GFTTrainer),
}


def method_classes(name: str) -> MethodClasses:
    """The config and trainer classes of method `name`; an unknown or Table-1-only method is an error."""
    from gift.methods import get_method

    spec = get_method(name)  # an unknown name: the error that lists the valid ones
    if name not in TRAINERS:
        raise ValueError(f"method {spec.name!r} is not trainable in this suite (Table 1 only)")
    return TRAINERS[name]
