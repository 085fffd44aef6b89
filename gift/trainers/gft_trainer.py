"""GFTTrainer: expert, teacher and sampled responses in one group, with GFT's rectified token loss.

GFT ("From Imitation to Reward Fine-Tuning with Unbiased Group Advantages and Dynamic Coefficient
Rectification", Findings of ACL 2026, arXiv 2604.14258; docs/method.md#gft) builds each prompt's group from
the dataset's expert demonstration, teacher-distilled responses and responses sampled from the
current policy, scores every member with the verifiable reward, z-scores the rewards over the whole
mixed group (GRPO) and trains with

    loss = token-mean of -log pi(y_t) * stopgrad(w_t) * A,   w_t = pi(y_t) if pi(y_t) <= tau else 1

so the gradient with respect to a token's probability is A where pi <= tau and A / pi above it.
No importance ratio (not even for the off-policy members), no clipping, no KL.

Departures from the authors' verl code (ZJU-OmniAI/GFT), all deliberate:
- The off-policy members are tokenised as `tokens(text) + [eos]` with the policy's tokenizer (no
  special tokens added), then truncated to `max_completion_length`; the authors tokenise
  `text + eos_token` as one string, which gives the same ids except where the tokenizer would merge
  the text's last characters with the EOS string. A truncated member has no EOS, like a truncated
  generation, and `mask_truncated_completions` treats it the same way.
- The reward of an off-policy member is computed on the decoded text of its (possibly truncated)
  tokens, the text the loss trains on, rather than on the dataset's full text.
- Teacher members are the first `n_teacher` non-empty entries of `teachers` (the authors take the
  first three), so a group's content is deterministic.
- A micro-batch holds whole groups (TRL's row shuffling is replaced by `GroupBatchingMixin`'s group
  shuffling). The advantage is computed over the whole group before splitting, so this changes only
  which rows share a token-mean, not the advantage.
- The token-mean is per micro-batch, divided by the gradient-accumulation steps (verl's
  `token-mean` with `loss / gradient_accumulation`), not TRL's global token count.
- With `num_iterations > 1` or several optimizer steps per generation batch, the sampled members of
  later steps are slightly off-policy; GFT uses no ratio for them either (as the verl code).
- `fallback_to_sampling` (not in the paper) lets a prompt without expert or teacher responses be
  filled by sampling instead of raising; such groups are counted in `gft/fallback_groups`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from trl import GRPOConfig, GRPOTrainer

from gift.losses import gft_token_loss, group_zscore
from gift.trainers.group_batching import GroupBatchingMixin, assert_whole_groups
from gift.trainers.passes import MethodPasses

MEMBER_KINDS = ("expert", "teacher", "sampled")
EXPERT, TEACHER, SAMPLED = range(3)


@dataclass
class GFTConfig(MethodPasses, GRPOConfig):
    """GRPOConfig plus GFT's group composition and rectification threshold (docs/method.md#gft).

    `num_generations` is the group size and must equal n_expert + n_teacher + n_sampled. TRL's
    `beta` (KL coefficient) must stay 0; `epsilon`/`loss_type` are unused (no clipping, no ratio).
    """

    method_name = "gft"  # the rules of gift.trainers.passes this config follows (not a field)

    n_expert: int = field(
        default=1, metadata={"help": "Members per group that are the dataset's expert demonstration (0 or 1)."},
    )
    n_teacher: int = field(
        default=3, metadata={"help": "Members per group taken from the dataset's teacher responses (the first ones)."},
    )
    n_sampled: int = field(
        default=4, metadata={"help": "Members per group sampled from the current policy (temperature as configured)."},
    )
    gft_tau: float = field(
        default=0.5,
        metadata={"help": "Rectification threshold tau: the token weight is pi where pi <= tau, else 1 (GFT: 0.5; "
                  "0.1 for Qwen2.5-Math-1.5B)."},
    )
    fallback_to_sampling: bool = field(
        default=False,
        metadata={"help": "Fill the members of a prompt that lacks expert or teacher responses by sampling instead "
                  "of raising an error (counted in gft/fallback_groups). Not in the paper."},
    )
    zscore_eps: float = field(
        default=1e-6, metadata={"help": "eps in (r - mean) / (std + eps) of the group advantage (unbiased std)."},
    )
    vllm_importance_sampling_correction: bool = field(
        default=False,
        metadata={"help": "Off for GFT: its loss has no importance ratio, so TRL's correction would cost a forward "
                  "pass of sampling-policy log-probs that nothing reads. True is an error."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.vllm_importance_sampling_correction:
            raise ValueError("GFTConfig: vllm_importance_sampling_correction must be False: the GFT loss has no "
                             "importance ratio to correct")
        for name in ("n_expert", "n_teacher", "n_sampled"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"GFTConfig: {name} must be a non-negative integer, got {value!r}")
        if self.n_expert > 1:
            raise ValueError(f"GFTConfig: n_expert must be 0 or 1 (a prompt has one expert demonstration), "
                             f"got {self.n_expert}")
        total = self.n_expert + self.n_teacher + self.n_sampled
        if self.num_generations != total:
            raise ValueError(
                f"GFTConfig: num_generations ({self.num_generations}) must equal n_expert + n_teacher + n_sampled "
                f"({self.n_expert} + {self.n_teacher} + {self.n_sampled} = {total})"
            )
        if total < 2:
            raise ValueError(f"GFTConfig: a group needs at least 2 members for a z-score, got {total}")
        if not 0.0 < self.gft_tau <= 1.0:
            raise ValueError(f"GFTConfig: gft_tau must be in (0, 1], got {self.gft_tau}")
        if self.beta != 0.0:
            raise ValueError(f"GFTConfig: GFT has no KL term; beta must be 0, got {self.beta}")
        if self.per_device_train_batch_size % self.num_generations != 0:
            raise ValueError(
                f"GFTConfig: per_device_train_batch_size ({self.per_device_train_batch_size}) must be a multiple of "
                f"num_generations ({self.num_generations}): every micro-batch holds whole groups"
            )
        if self.fallback_to_sampling and self.use_vllm:
            raise ValueError("GFTConfig: fallback_to_sampling needs generation with transformers (use_vllm=False): "
                             "vLLM expects the same number of samples for every prompt")


@dataclass
class _Member:
    """One row of a group: what kind of response it is, and its token ids unless it is to be sampled."""

    kind: int
    token_ids: list[int] | None = None
    fallback: bool = False


class GFTTrainer(GroupBatchingMixin, GRPOTrainer):
    """GFT on TRL's GRPO machinery: mixed groups, GRPO advantages over the group, rectified token loss.

    Only the sampled members are generated; the expert and teacher members are the dataset's texts
    (columns `expert` and `teachers` of the prepared examples, docs/interfaces.md). Logged per step:
    `gft/reward_<kind>` for each member kind, `gft/frac_above_tau` (share of response tokens with
    pi > tau) and, with `fallback_to_sampling`, `gft/fallback_groups` (groups filled by sampling).
    """

    _tag_names = ["trl", "gft"]
    _name = "GFT"
    _plan: list[_Member] | None = None

    def __init__(self, *args, **kwargs):
        config = kwargs.get("args")
        if not isinstance(config, GFTConfig):
            raise TypeError("GFTTrainer needs args=GFTConfig(...)")
        super().__init__(*args, **kwargs)
        if self.tools or self.rollout_func is not None or self.environment_factories is not None:
            raise ValueError("GFTTrainer: tools, rollout_func and environments are not supported")
        if self._tokenizer.eos_token_id is None:
            raise ValueError("GFTTrainer: the tokenizer has no eos_token; off-policy members end with EOS")
        self.loss_observer = None  # tests hook here to see every loss call's tensors

    # ---- group composition -------------------------------------------------------------------------

    def _encode_response(self, text: str) -> list[int]:
        """Token ids of a dataset response as the policy's own completion: tokens + EOS, truncated."""
        ids = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        return (list(ids) + [self._tokenizer.eos_token_id])[: self.args.max_completion_length]

    def _plan_groups(self, inputs: list[dict[str, Any]]) -> list[_Member]:
        """One `_Member` per row of the generation batch: expert rows, then teacher rows, then sampled rows."""
        args: GFTConfig = self.args
        n = self.num_generations
        if len(inputs) % n != 0:
            raise AssertionError(f"generation batch of {len(inputs)} rows is not whole groups of {n}")
        plan: list[_Member] = []
        for start in range(0, len(inputs), n):
            example = inputs[start]
            expert = example.get("expert")
            experts = [expert] if isinstance(expert, str) and expert.strip() else []
            teachers = [t for t in (example.get("teachers") or []) if isinstance(t, str) and t.strip()]
            missing = []
            if len(experts) < args.n_expert:
                missing.append("no expert demonstration (column 'expert' is empty or absent)")
            if len(teachers) < args.n_teacher:
                missing.append(f"{len(teachers)} teacher response(s) in column 'teachers', {args.n_teacher} needed")
            if missing and not args.fallback_to_sampling:
                raise ValueError(
                    f"GFT: example {example.get('id', f'at row {start}')!r} has {' and '.join(missing)}; GFT groups "
                    f"need the dataset's expert and teacher responses (prepare NuminaMath distillation data), or set "
                    f"fallback_to_sampling: true to fill the missing members by sampling"
                )
            group = [_Member(EXPERT, self._encode_response(t)) for t in experts[: args.n_expert]]
            group += [_Member(TEACHER, self._encode_response(t)) for t in teachers[: args.n_teacher]]
            group += [_Member(SAMPLED) for _ in range(args.n_sampled)]
            group += [_Member(SAMPLED, fallback=True) for _ in range(n - len(group))]
            plan.extend(group)
        return plan

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        plan = self._plan
        if plan is None:  # evaluation: plain sampling
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        if len(plan) != len(prompt_ids):
            raise AssertionError(f"GFT plan has {len(plan)} rows for {len(prompt_ids)} prompts")
        if images is not None or multimodal_fields:
            raise ValueError("GFTTrainer: multimodal prompts are not supported")
        rows = [i for i, m in enumerate(plan) if m.kind == SAMPLED]
        completion_ids: list[list[int] | None] = [m.token_ids for m in plan]
        sampled_logprobs = None
        if rows:
            # Only the sampled rows are generated. vLLM's server mode takes every num_generations-th
            # prompt and samples that many per prompt: without fallback every group has n_sampled rows.
            ids, sampled_logprobs = self._generate_sampled([prompt_ids[i] for i in rows])
            for i, row_ids in zip(rows, ids, strict=True):
                completion_ids[i] = list(row_ids)
        logprobs = None
        if sampled_logprobs is not None:
            # no sampling log-probs for dataset texts: NaN makes TRL skip their vLLM correction
            logprobs = [[float("nan")] * len(ids) for ids in completion_ids]
            for i, lp in zip(rows, sampled_logprobs, strict=True):
                logprobs[i] = lp
        return completion_ids, logprobs

    def _generate_sampled(self, prompt_ids: list) -> tuple[list, list | None]:
        """The sampled members' completions; through transformers in calls of at most `rollout_chunk_rows`
        rows (whole groups' sampled members), as `gift.generation.bound_rollout_chunks` bounds the other
        methods' rollouts: one call for a rank's whole generation batch does not fit a large model's KV cache."""
        from gift.generation import generate_in_chunks, whole_groups

        per_group = self.args.n_sampled
        limit = getattr(self, "rollout_chunk_rows", None)
        if self.use_vllm or not limit or len(prompt_ids) <= limit:
            return super()._generate_single_turn(prompt_ids, None, {}, per_group)
        return generate_in_chunks(super()._generate_single_turn, prompt_ids, whole_groups(limit, per_group), per_group)

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        if self._plan is not None and not self.args.needs_old_logps:
            # While a batch is scored, TRL asks for the sampling policy's log-probs when a generation
            # batch spans several optimizer steps; they only feed the importance ratio, which GFT has not.
            return None, None, None
        return super()._get_per_token_logps_and_entropies(*args, **kwargs)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        self._plan = self._plan_groups(inputs)
        plan = self._plan
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._plan = None
        device = output["completion_ids"].device
        n = self.num_generations
        kinds = torch.tensor([m.kind for m in plan], device=device)
        explicit = output["explicit_rewards"].float()
        # GFT's advantage: GRPO's z-score over the whole mixed group (unbiased std, eps), replacing TRL's
        output["advantages"] = group_zscore(explicit.view(-1, n), eps=self.args.zscore_eps).view(-1)
        output["member_kinds"] = kinds
        self._log_member_metrics(explicit, kinds, torch.tensor([m.fallback for m in plan], device=device), n)
        return output

    def _log_member_metrics(self, explicit: torch.Tensor, kinds: torch.Tensor, fallback: torch.Tensor,
                            n: int) -> None:
        gather = self.accelerator.gather
        all_rewards, all_kinds = gather(explicit), gather(kinds)
        metrics = self._metrics["train"]
        for k, name in enumerate(MEMBER_KINDS):
            chosen = all_rewards[all_kinds == k]
            if chosen.numel():
                metrics[f"gft/reward_{name}"].append(chosen.mean().item())
        if self.args.fallback_to_sampling:
            groups = gather(fallback.view(-1, n).any(dim=1).float())
            metrics["gft/fallback_groups"].append(groups.sum().item())
            metrics["gft/fallback_group_frac"].append(groups.mean().item())

    # ---- loss --------------------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        args: GFTConfig = self.args
        mode = "train" if self.model.training else "eval"
        if mode == "train":
            assert_whole_groups(inputs["group_ids"], self.num_generations)
        per_token_logps, mask = self._completion_logps(model, inputs)
        advantages = inputs["advantages"].to(per_token_logps.dtype)
        loss = gft_token_loss(per_token_logps, advantages, mask, tau=args.gft_tau)

        if self.loss_observer is not None:
            self.loss_observer(inputs=inputs, per_token_logps=per_token_logps.detach(), advantages=advantages,
                               mask=mask, loss=loss.detach())
        above = ((per_token_logps.detach().exp() > args.gft_tau) * mask).sum().float()
        totals = self.accelerator.reduce(torch.stack([above, mask.sum().float()]), reduction="sum")
        self._metrics[mode]["gft/frac_above_tau"].append((totals[0] / totals[1].clamp(min=1.0)).item())
        if mode == "train":
            # set by Trainer's loop (the last accumulation window may be shorter); the config outside it
            loss = loss / getattr(self, "current_gradient_accumulation_steps", args.gradient_accumulation_steps)
        return loss
