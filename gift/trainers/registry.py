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
    """The config and trainer classes of method `name`: a method the paper only compares in Table 1 (or an unknown
    name, which `gift.methods.get_method` reports with the valid ones) is an error."""
    if name not in TRAINERS:
        raise ValueError(f"method {name!r} is not trainable in this suite (Table 1 only); trainable: "
                         f"{', '.join(TRAINERS)}")
    return TRAINERS[name]
