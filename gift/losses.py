"""The GIFT objective (and GFT's token loss) as pure tensor functions.

GIFT (Wang, arXiv 2510.23868) matches, within each group of N responses to one prompt, the
z-scored implicit reward of the policy to the z-scored explicit reward:

    loss = mean over (x, i) of (a_i - beta * z_i)^2,
    a = group_zscore(r),  z = group_zscore(rhat),
    rhat_i = sum_t [log pi_theta(y_it) - log pi_ref(y_it)]   ("kl_sum"; "kl_average" takes the mean).

The z-score removes DPO's log-partition log Z(x) and its temperature, which is why the
implicit reward may stand in for a reward model. Choices the paper leaves open are arguments
here and fields of `gift.trainers.GIFTConfig`; docs/method.md#options-the-paper-leaves-open lists them.
"""

from __future__ import annotations

from typing import Literal

import torch

Aggregation = Literal["sum", "mean", "power"]
Statistics = Literal["detached", "attached"]

AGGREGATIONS = ("sum", "mean", "power")
STATISTICS = ("detached", "attached")
# A group of one (Figure 2a's N = 1) has no spread to z-score against; see gift_loss.
SINGLETONS = ("author", "pointwise")


def implicit_reward(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    mask: torch.Tensor,
    aggregation: str = "sum",
    length_power: float | None = None,
) -> torch.Tensor:
    """Per-sequence implicit reward from per-token log-probs, shape [B, T] -> [B].

    `aggregation`: "sum" (kl_sum, the paper's choice), "mean" (kl_average), or "power":
    sum / len**length_power (the author's code: p=0 is sum, p=1 is mean). Passing
    `length_power` alone implies "power".
    """
    if policy_logps.shape != ref_logps.shape or policy_logps.shape != mask.shape:
        raise ValueError(
            f"implicit_reward: shapes differ: policy_logps {tuple(policy_logps.shape)}, "
            f"ref_logps {tuple(ref_logps.shape)}, mask {tuple(mask.shape)}"
        )
    if length_power is not None and aggregation == "sum":
        aggregation = "power"
    mask = mask.to(policy_logps.dtype)
    total = ((policy_logps - ref_logps) * mask).sum(dim=-1)
    lengths = mask.sum(dim=-1).clamp(min=1.0)
    if aggregation == "sum":
        return total
    if aggregation == "mean":
        return total / lengths
    if aggregation == "power":
        if length_power is None:
            raise ValueError("implicit_reward: aggregation='power' needs length_power")
        return total / lengths.pow(length_power)
    raise ValueError(f"implicit_reward: unknown aggregation {aggregation!r}; valid: {', '.join(AGGREGATIONS)}")


def _safe_std(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Unbiased std whose gradient is finite where the std is 0 (sqrt's derivative is infinite there).

    The value equals torch.std; at zero variance the gradient through the std is taken as 0.
    """
    var = x.var(dim=dim, unbiased=True, keepdim=True)
    positive = var > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, var, torch.ones_like(var))), torch.zeros_like(var))


def group_zscore(values: torch.Tensor, eps: float = 1e-6, detach_statistics: bool = False) -> torch.Tensor:
    """(x - mean) / (std + eps) along the last axis of a [G, N] tensor, with the unbiased std.

    A group of one has no spread: mean 0 and std 1 by convention (as the GRPO advantage code of
    the author's fork), so the value passes through unchanged.
    """
    if values.dim() != 2:
        raise ValueError(f"group_zscore expects [groups, group_size], got shape {tuple(values.shape)}")
    if values.shape[1] == 1:
        return values.clone()
    mean = values.mean(dim=-1, keepdim=True)
    std = _safe_std(values, dim=-1)
    if detach_statistics:
        mean, std = mean.detach(), std.detach()
    return (values - mean) / (std + eps)


def gift_loss(
    explicit_rewards: torch.Tensor,
    implicit_rewards: torch.Tensor,
    beta: float = 1.0,
    statistics: str = "detached",
    eps: float = 1e-6,
    reduction: str = "mean",
    singleton: str = "author",
) -> torch.Tensor:
    """The GIFT loss: mean over groups and members of (a - beta * z)^2, inputs shaped [G, N].

    `statistics="detached"` stops the gradient through the group mean/std of the implicit
    reward (the author's code); "attached" reads the paper's formula literally, in which case
    the loss is (N-1)(1+beta^2) - 2 beta (N-1) corr(a, rhat) per group (up to eps) and beta only
    rescales it. The explicit advantage never carries gradient.

    Groups of one (N = 1) follow `singleton`: "author" (the author's code) takes mean 0 and std 1 for
    the explicit reward and rhat itself, detached, as the mean of the implicit one, so z has value 0
    and gradient 1/(1+eps): REINFORCE on the raw reward. "pointwise" passes both rewards unchanged,
    UNA's (r - beta * rhat)^2.
    """
    if statistics not in STATISTICS:
        raise ValueError(f"gift_loss: unknown statistics {statistics!r}; valid: {', '.join(STATISTICS)}")
    if singleton not in SINGLETONS:
        raise ValueError(f"gift_loss: unknown singleton {singleton!r}; valid: {', '.join(SINGLETONS)}")
    if explicit_rewards.shape != implicit_rewards.shape or explicit_rewards.dim() != 2:
        raise ValueError(
            "gift_loss: explicit_rewards and implicit_rewards must both be [groups, group_size]; got "
            f"{tuple(explicit_rewards.shape)} and {tuple(implicit_rewards.shape)}"
        )
    if implicit_rewards.shape[1] == 1 and singleton == "author":
        advantages = explicit_rewards.detach().to(implicit_rewards.dtype) / (1.0 + eps)
        z = (implicit_rewards - implicit_rewards.detach()) / (1.0 + eps)
    else:
        advantages = group_zscore(explicit_rewards.detach().to(implicit_rewards.dtype), eps=eps)
        z = group_zscore(implicit_rewards, eps=eps, detach_statistics=statistics == "detached")
    per_element = (advantages - beta * z).pow(2)
    if reduction == "mean":
        return per_element.mean()
    if reduction == "none":
        return per_element
    raise ValueError(f"gift_loss: unknown reduction {reduction!r}; valid: mean, none")


def group_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of x and y within each row of [G, N] tensors; NaN where a row has no spread."""
    xc = x - x.mean(dim=-1, keepdim=True)
    yc = y - y.mean(dim=-1, keepdim=True)
    denom = xc.pow(2).sum(-1).sqrt() * yc.pow(2).sum(-1).sqrt()
    return torch.where(denom > 0, (xc * yc).sum(-1) / denom.clamp(min=torch.finfo(x.dtype).tiny), torch.nan)


def implied_beta(explicit_rewards: torch.Tensor, implicit_rewards: torch.Tensor) -> torch.Tensor:
    """The prompt-wise temperature beta(x) = sigma_phi(x) / sigmahat_theta(x) of GIFT's minimiser (v5), per group.

    NaN for groups where either reward has no spread (always, for groups of one).
    """
    if explicit_rewards.shape[-1] < 2:
        return torch.full(explicit_rewards.shape[:-1], torch.nan, dtype=explicit_rewards.dtype,
                          device=explicit_rewards.device)
    s_exp = explicit_rewards.std(dim=-1, unbiased=True)
    s_imp = implicit_rewards.std(dim=-1, unbiased=True)
    return torch.where((s_exp > 0) & (s_imp > 0), s_exp / s_imp.clamp(min=torch.finfo(s_imp.dtype).tiny), torch.nan)


def gft_token_loss(
    per_token_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    tau: float = 0.5,
) -> torch.Tensor:
    """GFT's rectified policy-gradient loss (docs/method.md#gft), token-mean over the batch.

    Per token: -log pi * stopgrad(w) * A with w = pi where pi <= tau, else 1. So the gradient
    with respect to pi is A where pi <= tau (the coefficient is "rectified" to 1) and A/pi above.
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1)
    probs = per_token_logps.detach().exp()
    weight = torch.where(probs <= tau, probs, torch.ones_like(probs))
    per_token = -per_token_logps * weight * advantages
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
