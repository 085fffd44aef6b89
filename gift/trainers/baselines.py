"""Baselines on TRL's GRPOTrainer: GRPO and GSPO as configured, DAPO with dynamic sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig, GRPOTrainer

from gift.trainers.group_batching import GroupBatchingMixin


@dataclass
class DAPOConfig(GRPOConfig):
    """GRPOConfig plus DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476)."""

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


GSPOConfig = GRPOConfig  # GSPO is GRPO with importance_sampling_level="sequence" and its clip range

