"""Which forward passes each method's trainer runs: a reference model? old log-probs? (no TRL, no torch).

One answer per method, read by the config classes (`GIFTConfig.forward_passes`, ...), by the trainers, by
`gift estimate` and by the GPU memory plan. Every function takes the method's name and its config fields,
either a config object or a mapping of every field (class defaults, registry defaults and overrides, as
`gift.estimate.resolved_method_args` builds it), so the workflow can ask without importing TRL.

Per rollout, every method runs the policy forward and backward once per optimizer update it feeds (the
training pass). Besides it, a rollout may be scored without gradient by
  reference    the frozen reference model pi_ref: TRL's KL term (`beta` != 0) needs it, and GIFT's implicit
               reward when measured against pi_ref (`implicit_reference: reference`);
  old_policy   the policy that sampled the rollout (TRL's `old_per_token_logps`): TRL computes it when a
               rollout batch spans several optimizer updates (gradient_accumulation_steps not a multiple of
               steps_per_generation x num_iterations), or for vLLM's importance-sampling correction. GIFT
               runs it only when its loss reads it (`implicit_reference: rollout` over several updates); GFT's
               loss has no importance ratio and never runs it while training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

# Methods whose passes follow TRL's GRPOTrainer unchanged (DAPO adds dynamic sampling, no pass).
TRL_RULES = ("grpo", "dapo", "gspo")
METHODS = ("gift", "gft", *TRL_RULES)


@dataclass(frozen=True)
class ForwardPasses:
    """Passes over every rollout besides generation: the training pass and the no-gradient scoring passes."""

    reference: int  # the reference model's log-probs (0 or 1)
    old_policy: int  # the sampling policy's log-probs (0 or 1)
    policy: int = 1  # forward + backward of the policy, the loss's pass

    def extra(self) -> dict[str, int]:
        """The scoring passes as `gift estimate` lists them: {"reference": .., "old_policy": ..}."""
        return {"reference": self.reference, "old_policy": self.old_policy}


def _field(args: Mapping[str, Any] | object, name: str) -> Any:
    """A config field from a config object or a mapping of resolved fields (a missing one is a KeyError)."""
    return args[name] if isinstance(args, Mapping) else getattr(args, name)


def _known(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"no forward-pass rule for method {method!r}; rules: {', '.join(METHODS)}")


def needs_reference(method: str, args: Mapping[str, Any] | object) -> bool:
    """Whether the trainer builds a reference model and scores every rollout under it."""
    _known(method)
    kl = float(_field(args, "beta") or 0.0) != 0.0
    if method == "gift":
        return kl or _field(args, "implicit_reference") == "reference"
    return kl


def spans_several_updates(args: Mapping[str, Any] | object) -> bool:
    """Whether a rollout batch feeds more than one optimizer update (TRL's test, as in its GRPOTrainer)."""
    accum = int(_field(args, "gradient_accumulation_steps"))
    # GRPOConfig.__post_init__ sets an unset steps_per_generation to gradient_accumulation_steps
    every = int(_field(args, "steps_per_generation") or accum) * int(_field(args, "num_iterations"))
    return accum % every != 0


def needs_old_logps(method: str, args: Mapping[str, Any] | object) -> bool:
    """Whether the trainer scores every rollout under the policy that sampled it (`use_vllm` read from `args`)."""
    _known(method)
    if method == "gift":
        # the loss reads them only against the rollout policy, and only once the policy has moved since sampling;
        # its config refuses vLLM's importance-sampling correction
        return _field(args, "implicit_reference") == "rollout" and spans_several_updates(args)
    if method == "gft":
        return False  # no importance ratio; its config refuses vLLM's importance-sampling correction
    return spans_several_updates(args) or bool(
        _field(args, "use_vllm") and _field(args, "vllm_importance_sampling_correction"))


def forward_passes(method: str, args: Mapping[str, Any] | object) -> ForwardPasses:
    """The passes per rollout of `method` with config fields `args`."""
    return ForwardPasses(reference=int(needs_reference(method, args)), old_policy=int(needs_old_logps(method, args)))


class MethodPasses:
    """Mixed into a method's config class: the config answers which passes its trainer runs."""

    method_name: ClassVar[str]  # a name of METHODS: whose rules the config follows

    @property
    def needs_reference(self) -> bool:
        """Whether the trainer builds a reference model and scores every rollout under it."""
        return needs_reference(self.method_name, self)

    @property
    def needs_old_logps(self) -> bool:
        """Whether the trainer scores every rollout under the policy that sampled it."""
        return needs_old_logps(self.method_name, self)

    @property
    def forward_passes(self) -> ForwardPasses:
        """The passes per rollout (see gift.trainers.passes)."""
        return forward_passes(self.method_name, self)
