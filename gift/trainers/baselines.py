"""Baselines on TRL's GRPOTrainer: GRPO and GSPO as configured, DAPO with dynamic sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trl
from trl import GRPOTrainer

from gift.trainers.group_batching import GroupBatchingMixin
from gift.trainers.passes import MethodPasses


@dataclass
class GRPOConfig(MethodPasses, trl.GRPOConfig):
    """TRL's GRPOConfig, unchanged, that also says which passes GRPOTrainer runs (gift.trainers.passes)."""

    method_name = "grpo"  # the rules of gift.trainers.passes this config follows (not a field)


@dataclass
class GSPOConfig(GRPOConfig):
    """GSPO is GRPO with importance_sampling_level="sequence" and its clip range (the registry's defaults)."""

    method_name = "gspo"


@dataclass
class DAPOConfig(GRPOConfig):
    """GRPOConfig plus DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476)."""

    method_name = "dapo"

    dynamic_sampling: bool = field(
        default=True,
        metadata={"help": "Drop groups whose rewards are all equal (no learning signal) from the loss and its "
                  "token normaliser. DAPO over-samples to refill the batch; this implementation filters only."},
    )
    overlong_buffer: int = field(
        default=0,
        metadata={"help": "L_cache of DAPO's soft overlong punishment (Eq. 13), added as a reward; 0 disables."},
    )


class DAPOTrainer(GroupBatchingMixin, GRPOTrainer):
    """DAPO: clip-higher and token-level loss are GRPOConfig settings; this adds dynamic sampling.

    Departure from the paper: groups with equal rewards are masked out of the batch rather than
    replaced by newly sampled groups, so a batch can hold fewer effective prompts.
    """

    _name = "DAPO"

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if not (self.model.training and self.args.dynamic_sampling):
            return output
        n = self.num_generations
        grouped = output["explicit_rewards"].view(-1, n)
        keep = (grouped.max(dim=1).values > grouped.min(dim=1).values).repeat_interleave(n)
        output["completion_mask"] = output["completion_mask"] * keep[:, None].to(output["completion_mask"].dtype)
        output["num_items_in_batch"] = self.accelerator.gather(output["completion_mask"].sum()).sum()
        kept = self.accelerator.gather(keep.float()).mean().item()
        self._metrics["train"]["dynamic_sampling/kept_fraction"].append(kept)
        return output
