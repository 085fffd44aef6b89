"""Trainers of the suite, all on TRL's GRPOTrainer: GIFT, GRPO, DAPO, GSPO (and GFT)."""

from gift.trainers.baselines import DAPOConfig, DAPOTrainer
from gift.trainers.gft_trainer import GFTConfig, GFTTrainer
from gift.trainers.gift_trainer import GIFTConfig, GIFTTrainer
from gift.trainers.group_batching import assert_whole_groups, shuffle_and_split_groups

__all__ = [
    "DAPOConfig",
    "DAPOTrainer",
    "GFTConfig",
    "GFTTrainer",
    "GIFTConfig",
    "GIFTTrainer",
    "assert_whole_groups",
    "shuffle_and_split_groups",
]
