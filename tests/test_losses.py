"""The GIFT objective: invariances, the correlation identity, the first step, gradients, the minimiser."""

from __future__ import annotations

import math

import pytest
import torch

from gift.losses import (
    gft_token_loss,
    gift_loss,
    group_correlation,
    group_zscore,
    implicit_reward,
    implied_beta,
)

STATS = ("detached", "attached")


def _rand(g: int = 4, n: int = 6, seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    explicit = torch.randn(g, n, generator=gen, dtype=dtype)
    implicit = torch.randn(g, n, generator=gen, dtype=dtype).requires_grad_(True)
    return explicit, implicit


def _loss_and_grad(explicit, implicit_leaf, transform, **kw):
    loss = gift_loss(explicit, transform(implicit_leaf), **kw)
    (grad,) = torch.autograd.grad(loss, implicit_leaf)
    return loss.detach(), grad


@pytest.mark.parametrize("statistics", STATS)
def test_gift_loss_is_invariant_to_log_partition(statistics):
    explicit, implicit = _rand()
    log_z = torch.randn(explicit.shape[0], 1, dtype=explicit.dtype) * 10.0
    base_loss, base_grad = _loss_and_grad(explicit, implicit, lambda x: x, statistics=statistics)
    loss, grad = _loss_and_grad(explicit, implicit, lambda x: x + log_z, statistics=statistics)
    torch.testing.assert_close(loss, base_loss)
    torch.testing.assert_close(grad, base_grad)


@pytest.mark.parametrize("statistics", STATS)
def test_gift_loss_is_invariant_to_dpo_temperature(statistics):
    explicit, implicit = _rand(seed=1)
    scale = torch.tensor([[0.1], [3.0], [17.0], [0.5]], dtype=explicit.dtype)
    base_loss, base_grad = _loss_and_grad(explicit, implicit, lambda x: x, statistics=statistics, eps=0.0)
    loss, grad = _loss_and_grad(explicit, implicit, lambda x: x * scale, statistics=statistics, eps=0.0)
    torch.testing.assert_close(loss, base_loss)
    # d loss / d rhat scales as 1/c, so the gradient with respect to the unscaled leaf is unchanged
    torch.testing.assert_close(grad, base_grad)


def test_gift_loss_is_sensitive_to_a_per_response_change():
    """The invariances above must not come from a loss that ignores its input."""
    explicit, implicit = _rand(seed=2)
    shifted = implicit.detach().clone()
    shifted[0, 0] += 1.0
    assert not torch.isclose(gift_loss(explicit, implicit), gift_loss(explicit, shifted))


@pytest.mark.parametrize("n", [2, 5, 16])
@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_attached_loss_is_an_affine_function_of_the_group_correlation(n, beta):
    g = 7
    explicit, implicit = _rand(g=g, n=n, seed=n)
    loss = gift_loss(explicit, implicit, beta=beta, statistics="attached", eps=0.0)
    # independent computation: numpy-free Pearson correlation per group by the textbook formula
    corr = []
    for row_a, row_b in zip(explicit.tolist(), implicit.detach().tolist(), strict=True):
        ma, mb = sum(row_a) / n, sum(row_b) / n
        cov = sum((p - ma) * (q - mb) for p, q in zip(row_a, row_b, strict=True))
        va = sum((p - ma) ** 2 for p in row_a)
        vb = sum((q - mb) ** 2 for q in row_b)
        corr.append(cov / math.sqrt(va * vb))
    per_group_sum = [(n - 1) * (1 + beta**2) - 2 * beta * (n - 1) * c for c in corr]
    expected = sum(per_group_sum) / (g * n)  # the loss is a mean over all g*n elements
    assert loss.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    torch.testing.assert_close(group_correlation(explicit, implicit.detach()), torch.tensor(corr, dtype=explicit.dtype))


def test_beta_only_rescales_the_attached_loss_gradient_direction():
    explicit, implicit = _rand(seed=3)
    _, g1 = _loss_and_grad(explicit, implicit, lambda x: x, beta=1.0, statistics="attached", eps=0.0)
    _, g2 = _loss_and_grad(explicit, implicit, lambda x: x, beta=3.0, statistics="attached", eps=0.0)
    torch.testing.assert_close(g2, 3.0 * g1)
    _, d1 = _loss_and_grad(explicit, implicit, lambda x: x, beta=1.0, statistics="detached", eps=0.0)
    _, d2 = _loss_and_grad(explicit, implicit, lambda x: x, beta=3.0, statistics="detached", eps=0.0)
    assert not torch.allclose(d2, 3.0 * d1), "with detached statistics beta must matter beyond a scale"


@pytest.mark.parametrize("statistics", STATS)
def test_first_step_zero_implicit_rewards_give_finite_loss_and_gradient(statistics):
    # pi_theta == pi_ref: every per-token log-ratio is exactly zero
    logps = torch.randn(8, 5, dtype=torch.float64).requires_grad_(True)
    ref = logps.detach().clone()
    mask = torch.ones(8, 5)
    rhat = implicit_reward(logps, ref, mask).view(2, 4)
    assert torch.equal(rhat.detach(), torch.zeros(2, 4, dtype=torch.float64))
    explicit = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    loss = gift_loss(explicit, rhat, statistics=statistics)
    (grad,) = torch.autograd.grad(loss, logps)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # group 1 has equal explicit rewards: no advantage, so with z = 0 it gives no gradient at all
    assert torch.equal(grad[4:], torch.zeros_like(grad[4:]))
    # group 0 does: the gradient raises log-probs of the rewarded responses and lowers the others
    row_grad = grad[:4].sum(-1)
    assert (row_grad[[0, 3]] < 0).all() and (row_grad[[1, 2]] > 0).all()


def test_equal_explicit_rewards_give_zero_advantage():
    z = group_zscore(torch.full((3, 4), 0.7, dtype=torch.float64))
    assert torch.equal(z, torch.zeros(3, 4, dtype=torch.float64))


def test_group_of_one_uses_mean_zero_std_one():
    x = torch.tensor([[2.5], [-1.0]])
    torch.testing.assert_close(group_zscore(x), x)


def _author_gift_loss(scores, kl_sum, index, beta=1.0, epsilon=1e-6):
    """The author's verl fork (core_algos.py, commit fc7760fd) re-written from its rules, on flat tensors.

    Advantage: per uid, mean 0 / std 1 for a group of one, else mean and unbiased std of the scores,
    (s - mean) / (std + eps). Implicit: per uid, mean = the value itself detached and std = 1 for a
    group of one, else detached mean and std; (kl - mean) / (std + eps). Loss: mean of (a - beta * z)^2.
    """
    groups: dict = {}
    for i, uid in enumerate(index):
        groups.setdefault(uid, []).append(i)
    adv = torch.empty_like(scores)
    z = []
    stats = {}
    for uid, rows in groups.items():
        if len(rows) == 1:
            stats[uid] = (torch.tensor(0.0, dtype=scores.dtype), torch.tensor(1.0, dtype=scores.dtype),
                          kl_sum[rows[0]].detach(), torch.tensor(1.0, dtype=kl_sum.dtype))
        else:
            s = torch.stack([scores[i] for i in rows])
            k = torch.stack([kl_sum[i] for i in rows])
            stats[uid] = (s.mean(), s.std(), k.mean().detach(), k.std().detach())
    for i, uid in enumerate(index):
        s_mean, s_std, k_mean, k_std = stats[uid]
        adv[i] = (scores[i] - s_mean) / (s_std + epsilon)
        z.append((kl_sum[i] - k_mean) / (k_std + epsilon))
    return ((adv - beta * torch.stack(z)) ** 2).mean()


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_gift_loss_matches_the_authors_rule_for_every_group_size(n, beta):
    gen = torch.Generator().manual_seed(n)
    scores = torch.randint(0, 2, (6, n), generator=gen).to(torch.float64) + 0.1 * torch.randn(6, n, generator=gen,
                                                                                            dtype=torch.float64)
    rhat = (3.0 * torch.randn(6, n, generator=gen, dtype=torch.float64)).requires_grad_(True)
    ours = gift_loss(scores, rhat, beta=beta)
    (g_ours,) = torch.autograd.grad(ours, rhat)
    flat = rhat.detach().reshape(-1).clone().requires_grad_(True)
    theirs = _author_gift_loss(scores.reshape(-1), flat, [i // n for i in range(6 * n)], beta=beta)
    (g_theirs,) = torch.autograd.grad(theirs, flat)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-14)
    torch.testing.assert_close(g_ours.reshape(-1), g_theirs, rtol=0, atol=1e-14)


def test_group_of_one_author_rule_is_reinforce_on_the_raw_reward():
    r = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    rhat = torch.tensor([[0.7], [-2.0], [0.0]], dtype=torch.float64, requires_grad=True)
    loss = gift_loss(r, rhat, beta=1.0, eps=1e-6)
    (grad,) = torch.autograd.grad(loss, rhat)
    # closed form: z = 0 with dz/drhat = 1/(1+eps), a = r/(1+eps); loss = mean a^2, dloss/drhat = -2 a / (G (1+eps))
    a = r / (1 + 1e-6)
    torch.testing.assert_close(loss, (a ** 2).mean())
    torch.testing.assert_close(grad, -2 * a / (3 * (1 + 1e-6)))
    # independent of rhat's value: the gradient pushes up the log-likelihood of rewarded responses only
    assert grad[1].item() == 0.0 and grad[0].item() < 0 and grad[2].item() < 0


def test_group_of_one_pointwise_rule_is_unas_loss():
    r = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    rhat = torch.tensor([[0.7], [-2.0], [0.0]], dtype=torch.float64, requires_grad=True)
    loss = gift_loss(r, rhat, beta=0.5, singleton="pointwise")
    (grad,) = torch.autograd.grad(loss, rhat)
    torch.testing.assert_close(loss, ((r - 0.5 * rhat) ** 2).mean())
    torch.testing.assert_close(grad, -2 * 0.5 * (r - 0.5 * rhat.detach()) / 3)
    assert not torch.allclose(loss, gift_loss(r, rhat, beta=0.5))  # the two rules differ
    with pytest.raises(ValueError, match="singleton"):
        gift_loss(r, rhat, singleton="una")


def test_zscore_matches_torch_std_convention():
    x = torch.randn(5, 7, dtype=torch.float64)
    expected = (x - x.mean(-1, keepdim=True)) / (torch.std(x, dim=-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(group_zscore(x), expected)


def test_attached_gift_loss_gradient_agrees_with_finite_differences():
    explicit, implicit = _rand(g=3, n=5, seed=4)
    assert torch.autograd.gradcheck(
        lambda imp: gift_loss(explicit, imp, beta=0.7, statistics="attached"), (implicit,), eps=1e-6, atol=1e-5
    )


def test_detached_gift_loss_gradient_is_that_of_the_loss_with_frozen_statistics():
    """Detached statistics: the gradient is the finite-difference gradient of the loss whose group
    mean and std are held at their values at the evaluation point (computed here independently)."""
    explicit, implicit = _rand(g=3, n=5, seed=4)
    beta, eps = 0.7, 1e-6
    x0 = implicit.detach()
    mean0 = x0.mean(-1, keepdim=True)
    std0 = x0.std(-1, keepdim=True)
    a = (explicit - explicit.mean(-1, keepdim=True)) / (explicit.std(-1, keepdim=True) + eps)

    def frozen(imp):
        return ((a - beta * (imp - mean0) / (std0 + eps)) ** 2).mean()

    (g_frozen,) = torch.autograd.grad(frozen(implicit), implicit)
    assert torch.autograd.gradcheck(frozen, (implicit,), eps=1e-6, atol=1e-5)
    (g_gift,) = torch.autograd.grad(gift_loss(explicit, implicit, beta=beta, statistics="detached"), implicit)
    torch.testing.assert_close(g_gift, g_frozen)


def test_implicit_reward_gradients_agree_with_finite_differences():
    logps = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(4, 6, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0]] * 2 + [[1] * 6] * 2, dtype=torch.float64)
    for agg, p in (("sum", None), ("mean", None), ("power", 0.5)):
        assert torch.autograd.gradcheck(lambda lp, a=agg, q=p: implicit_reward(lp, ref, mask, a, q), (logps,))


def test_implicit_reward_aggregations_against_loops():
    logps = torch.randn(3, 5, dtype=torch.float64)
    ref = torch.randn(3, 5, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float64)
    for b in range(3):
        length = int(mask[b].sum())
        total = sum(float(logps[b, t] - ref[b, t]) for t in range(length))
        assert implicit_reward(logps, ref, mask, "sum")[b].item() == pytest.approx(total)
        assert implicit_reward(logps, ref, mask, "mean")[b].item() == pytest.approx(total / length)
        assert implicit_reward(logps, ref, mask, length_power=0.5)[b].item() == pytest.approx(total / length**0.5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="aggregation"):
        implicit_reward(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), "median")
    with pytest.raises(ValueError, match="statistics"):
        gift_loss(torch.zeros(1, 2), torch.zeros(1, 2), statistics="frozen")
    with pytest.raises(ValueError, match="groups"):
        gift_loss(torch.zeros(4), torch.zeros(4))


def _population_gift_fit(statistics: str, steps: int = 4000, seed: int = 0):
    """Minimise the GIFT loss with exact expectations over a tabular softmax policy.

    Each of P prompts has K responses with explicit rewards r and reference probabilities pi_ref.
    Group statistics are expectations under the current policy (the N -> infinity limit of a
    sampled group); as with sampled groups, the sampling weights carry no gradient.
    """
    gen = torch.Generator().manual_seed(seed)
    p, k = 3, 6
    rewards = torch.randn(p, k, generator=gen, dtype=torch.float64)
    ref_logits = torch.randn(p, k, generator=gen, dtype=torch.float64)
    log_ref = torch.log_softmax(ref_logits, -1)
    # start near, not at, the reference: at pi == pi_ref the implicit reward has no spread to z-score
    theta = (ref_logits + 0.1 * torch.randn(p, k, generator=gen, dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=0.02)

    def weighted_z(values, w, detach):
        mean = (w * values).sum(-1, keepdim=True)
        std = ((w * (values - mean) ** 2).sum(-1, keepdim=True)).sqrt()
        if detach:
            mean, std = mean.detach(), std.detach()
        return (values - mean) / std

    for _ in range(steps):
        log_pi = torch.log_softmax(theta, -1)
        w = log_pi.exp().detach()
        rhat = log_pi - log_ref
        a = weighted_z(rewards, w, detach=True)
        z = weighted_z(rhat, w, detach=statistics == "detached")
        loss = (w * (a - z) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return rewards, log_ref, torch.log_softmax(theta.detach(), -1), loss.item()


@pytest.mark.parametrize("statistics", STATS)
def test_population_minimiser_is_reference_tilted_by_reward_over_beta_x(statistics):
    rewards, log_ref, log_pi, final_loss = _population_gift_fit(statistics)
    assert final_loss < 1e-6
    pi = log_pi.exp()
    log_ratio = log_pi - log_ref
    for x in range(rewards.shape[0]):
        r, h, w = rewards[x], log_ratio[x], pi[x]
        # least-squares fit log(pi/pi_ref) = r / beta_fit + c, weighted by pi (where the loss lives)
        design = torch.stack([r, torch.ones_like(r)], -1) * w.sqrt()[:, None]
        coef = torch.linalg.lstsq(design, h * w.sqrt()).solution
        residual = h - (coef[0] * r + coef[1])
        assert (w * residual**2).sum().item() < 1e-8, "log(pi/pi_ref) must be affine in r"
        beta_fit = 1.0 / coef[0].item()
        # the paper's v5: beta(x) = sigma_phi(x) / sigmahat_theta(x), both under the policy
        sigma_phi = (w * (r - (w * r).sum()) ** 2).sum().sqrt().item()
        sigma_hat = (w * (h - (w * h).sum()) ** 2).sum().sqrt().item()
        beta_theory = sigma_phi / sigma_hat
        print(f"[{statistics}] prompt {x}: fitted beta(x) = {beta_fit:.5f}, sigma_phi/sigmahat = {beta_theory:.5f}")
        assert beta_fit == pytest.approx(beta_theory, rel=1e-3)


def test_implied_beta_matches_ratio_of_standard_deviations():
    explicit = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    implicit = torch.tensor([[0.0, 2.0, 2.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    beta = implied_beta(explicit, implicit)
    assert beta[0].item() == pytest.approx(0.5)
    assert math.isnan(beta[1].item())


def test_gft_gradient_weight_is_one_below_tau_and_inverse_probability_above():
    tau = 0.5
    probs = torch.tensor([[0.05, 0.3, 0.5, 0.6, 0.9]], dtype=torch.float64, requires_grad=True)
    mask = torch.ones(1, 5, dtype=torch.float64)
    adv = torch.tensor([1.0], dtype=torch.float64)
    loss = gft_token_loss(probs.log(), adv, mask, tau=tau) * mask.sum()  # undo the token mean
    (grad,) = torch.autograd.grad(loss, probs)
    expected = torch.tensor([[-1.0, -1.0, -1.0, -1 / 0.6, -1 / 0.9]], dtype=torch.float64)
    torch.testing.assert_close(grad, expected)
