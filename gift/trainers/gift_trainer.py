"""GIFTTrainer: TRL's GRPOTrainer with the GIFT loss and whole groups in every micro-batch.

Generation, reward scoring, reference log-probs, logging and checkpointing are TRL's. GIFT
replaces two things: the loss (`gift.losses.gift_loss` on the explicit reward and the implicit
reward of the policy) and the batching, because the z-score needs all N responses of a prompt in
one loss call. TRL shuffles the rows of a generation batch before splitting it into micro-steps,
which scatters groups; this trainer shuffles whole groups and asserts the invariant on every split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from trl import GRPOConfig, GRPOTrainer

from gift.losses import (
    AGGREGATIONS,
    SINGLETONS,
    STATISTICS,
    gift_loss,
    group_correlation,
    implicit_reward,
    implied_beta,
)
from gift.trainers.group_batching import GroupBatchingMixin, assert_whole_groups
from gift.trainers.passes import MethodPasses

IMPLICIT_REFERENCES = ("reference", "rollout")


@dataclass
class GIFTConfig(MethodPasses, GRPOConfig):
    """GRPOConfig plus GIFT's options (docs/method.md#options-the-paper-leaves-open).

    TRL's `beta` stays the coefficient of TRL's KL penalty: 0 for GIFT; a non-zero value adds that term.
    `needs_reference`, `needs_old_logps` and `forward_passes` say which passes the trainer runs
    (gift.trainers.passes).
    """

    method_name = "gift"  # the rules of gift.trainers.passes this config follows (not a field)

    gift_beta: float = field(
        default=1.0,
        metadata={"help": "beta of the GIFT loss (a - beta * z)^2 (paper §2.3: 1.0). With `attached` statistics it "
                  "only rescales the loss; with `detached` statistics it sets the implicit temperature."},
    )
    implicit_aggregation: str = field(
        default="sum",
        metadata={"help": "Implicit reward over response tokens: `sum` (kl_sum, the paper's choice), `mean` "
                  "(kl_average), or `power` (sum / len**implicit_length_power, the author's later code).",
                  "choices": AGGREGATIONS},
    )
    implicit_length_power: float | None = field(
        default=None,
        metadata={"help": "p in sum / len**p when implicit_aggregation is `power` (0 = sum, 1 = mean)."},
    )
    implicit_statistics: str = field(
        default="detached",
        metadata={"help": "Gradient through the group mean/std of the implicit reward: `detached` (the author's "
                  "code) or `attached` (the paper's formula read literally; GIFT then maximises corr(a, rhat)).",
                  "choices": STATISTICS},
    )
    implicit_reference: str = field(
        default="reference",
        metadata={"help": "Log-probs the implicit reward is measured against: `reference` (pi_ref, the paper) or "
                  "`rollout` (the policy that sampled the group, the author's code's default).",
                  "choices": IMPLICIT_REFERENCES},
    )
    singleton: str = field(
        default="author",
        metadata={"help": "The loss of a group of one (N = 1): `author` (the author's code: z has value 0 and the "
                  "gradient of rhat, so N = 1 is REINFORCE on the raw reward) or `pointwise` (UNA's "
                  "(r - beta * rhat)^2).",
                  "choices": SINGLETONS},
    )
    zscore_eps: float = field(
        default=1e-6,
        metadata={"help": "eps in (x - mean) / (std + eps) for both z-scores (unbiased std, as torch.std)."},
    )
    vllm_importance_sampling_correction: bool = field(
        default=False,
        metadata={"help": "Off for GIFT: its loss has no importance ratio, so TRL's correction (and the extra "
                  "forward pass of old log-probs it needs) would change nothing. True is an error."},
    )

    def __post_init__(self):
        if self.num_generations is None or self.num_generations < 1:
            raise ValueError(f"GIFTConfig: num_generations must be >= 1, got {self.num_generations}")
        try:
            super().__post_init__()
        except ValueError as err:
            # TRL needs two responses for its advantage; GIFT defines a group of one (see `singleton`),
            # which Figure 2a's N = 1 uses.
            # The check is TRL's last one that does not concern vLLM importance sampling.
            if not (self.num_generations == 1 and "at least 2 generations" in str(err)):
                raise
        if self.vllm_importance_sampling_correction:
            raise ValueError("GIFTConfig: vllm_importance_sampling_correction must be False: the GIFT loss has no "
                             "importance ratio to correct")
        _check_choice("implicit_aggregation", self.implicit_aggregation, AGGREGATIONS)
        _check_choice("implicit_statistics", self.implicit_statistics, STATISTICS)
        _check_choice("implicit_reference", self.implicit_reference, IMPLICIT_REFERENCES)
        _check_choice("singleton", self.singleton, SINGLETONS)
        if self.implicit_aggregation == "power" and self.implicit_length_power is None:
            raise ValueError("GIFTConfig: implicit_aggregation='power' needs implicit_length_power")
        if self.per_device_train_batch_size % self.num_generations != 0:
            raise ValueError(
                f"GIFTConfig: per_device_train_batch_size ({self.per_device_train_batch_size}) must be a multiple of "
                f"num_generations ({self.num_generations}): every micro-batch must hold whole groups"
            )


def _check_choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not one of: {', '.join(valid)}")


class GIFTTrainer(GroupBatchingMixin, GRPOTrainer):
    """Group-relative Implicit Fine Tuning on TRL's GRPO machinery.

    Departures from TRL's GRPO: no clipping, importance ratio or entropy bonus; the loss is
    `gift_loss` per micro-batch of whole groups, averaged over gradient-accumulation steps.
    An optional KL penalty (TRL's `beta`, 0 by default as in the paper) is added token-mean.
    """

    _tag_names = ["trl", "gift"]
    _name = "GIFT"

    def __init__(self, *args, **kwargs):
        config: GIFTConfig = kwargs.get("args")
        if not isinstance(config, GIFTConfig):
            raise TypeError("GIFTTrainer needs args=GIFTConfig(...)")
        # TRL builds and prepares (DeepSpeed/FSDP/PEFT) a reference model only when its KL `beta` is
        # non-zero, and computes reference log-probs under the same condition. GIFT needs them for
        # the implicit reward even without a KL term, so TRL's `self.beta` here means "reference
        # needed" and the KL coefficient lives in `self.kl_coef`.
        kl_coef = config.beta
        needs_reference = config.needs_reference
        if needs_reference and kl_coef == 0.0:
            config.beta = 1.0
        try:
            super().__init__(*args, **kwargs)
        finally:
            config.beta = kl_coef
        self.kl_coef = kl_coef
        self.beta = 1.0 if needs_reference else 0.0
        self.loss_observer = None  # tests hook here to see every loss call's tensors

    def needs_old_logps(self) -> bool:
        """Whether the loss reads the log-probs of the policy that sampled the batch (GIFTConfig.needs_old_logps)."""
        return self.args.needs_old_logps

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if self.needs_old_logps():
            return super()._generate_and_score_completions(inputs)
        # TRL computes old log-probs whenever a rollout batch spans several optimizer updates (it tests
        # gradient_accumulation_steps % (steps_per_generation * num_iterations)); GIFT's loss does not read
        # them here, so the test is made to pass for the duration of this call: one forward pass per rollout
        # batch saved. Importance-sampling correction, TRL's other reason for the pass, is off (GIFTConfig).
        args = self.args
        saved = args.gradient_accumulation_steps
        args.gradient_accumulation_steps = args.steps_per_generation * self.num_iterations
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            args.gradient_accumulation_steps = saved

    def _compute_loss(self, model, inputs):
        args: GIFTConfig = self.args
        mode = "train" if self.model.training else "eval"
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        assert_whole_groups(inputs["group_ids"], group_size)

        per_token_logps, mask = self._completion_logps(model, inputs)

        if args.implicit_reference == "reference":
            base_logps = inputs["ref_per_token_logps"]
        else:
            old = inputs.get("old_per_token_logps")
            base_logps = per_token_logps.detach() if old is None else old
        rhat = implicit_reward(per_token_logps, base_logps, mask, args.implicit_aggregation, args.implicit_length_power)
        explicit = inputs["explicit_rewards"].to(rhat.dtype)
        explicit_g, rhat_g = explicit.view(-1, group_size), rhat.view(-1, group_size)
        loss = gift_loss(explicit_g, rhat_g, beta=args.gift_beta, statistics=args.implicit_statistics,
                         eps=args.zscore_eps, singleton=args.singleton)

        if self.loss_observer is not None:
            self.loss_observer(inputs=inputs, explicit=explicit_g.detach(), implicit=rhat_g.detach(),
                               loss=loss.detach(), group_size=group_size)

        per_token_kl = None
        if "ref_per_token_logps" in inputs:
            ref = inputs["ref_per_token_logps"]
            per_token_kl = torch.exp(ref - per_token_logps) - (ref - per_token_logps) - 1  # k3 estimator
            if self.kl_coef != 0.0:
                loss = loss + self.kl_coef * (per_token_kl * mask).sum() / mask.sum().clamp(min=1.0)

        self._log_group_metrics(mode, explicit_g, rhat_g.detach(), mask, per_token_kl)
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        return loss

    def _log_group_metrics(self, mode, explicit_g, rhat_g, mask, per_token_kl):
        gather = self.accelerator.gather
        rhat_all = gather(rhat_g.float())
        self._metrics[mode]["implicit_reward/mean"].append(rhat_all.mean().item())
        self._metrics[mode]["implicit_reward/std"].append(rhat_all.std().item() if rhat_all.numel() > 1 else 0.0)
        if rhat_g.shape[-1] > 1:
            # the spread the z-score divides by: the within-group std (unbiased, as the loss), mean over groups
            spread = gather(rhat_g.float().std(dim=-1))
            self._metrics[mode]["implicit_reward/group_std"].append(spread.mean().item())
        corr = gather(group_correlation(explicit_g.float(), rhat_g.float()))
        corr = corr[~torch.isnan(corr)]
        if corr.numel():
            self._metrics[mode]["implicit_explicit_corr"].append(corr.mean().item())
        beta_x = gather(implied_beta(explicit_g.float(), rhat_g.float()))
        beta_x = beta_x[~torch.isnan(beta_x)]
        if beta_x.numel():
            self._metrics[mode]["implied_beta"].append(beta_x.median().item())
        if per_token_kl is not None:
            totals = self.accelerator.reduce(torch.stack([(per_token_kl.detach() * mask).sum(), mask.sum().float()]),
                                             reduction="sum")
            self._metrics[mode]["kl"].append((totals[0] / totals[1].clamp(min=1.0)).item())
