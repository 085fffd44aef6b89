"""Trainers of the suite, all on TRL's GRPOTrainer: GIFT, GRPO, DAPO, GSPO (and GFT).

`gift.trainers.passes` (which forward passes each method runs) is read while the workflow is parsed and
imports neither TRL nor torch; the trainer classes below import TRL, so they load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gift.trainers.baselines import DAPOConfig, DAPOTrainer, GRPOConfig, GSPOConfig
    from gift.trainers.gft_trainer import GFTConfig, GFTTrainer
    from gift.trainers.gift_trainer import GIFTConfig, GIFTTrainer
    from gift.trainers.group_batching import assert_whole_groups, shuffle_and_split_groups
    from gift.trainers.registry import TRAINERS

__all__ = [
    "TRAINERS",
    "DAPOConfig",
    "DAPOTrainer",
    "GFTConfig",
    "GFTTrainer",
    "GIFTConfig",
    "GIFTTrainer",
    "GRPOConfig",
    "GSPOConfig",
    "assert_whole_groups",
    "shuffle_and_split_groups",
]


def __getattr__(name: str) -> Any:
    """The heavy names, imported when first read (`from gift.trainers import GIFTConfig` works as before)."""
    if name in ("assert_whole_groups", "shuffle_and_split_groups"):
        from gift.trainers import group_batching

        return getattr(group_batching, name)
    if name in __all__:
        from gift.trainers import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'gift.trainers' has no attribute {name!r}")
