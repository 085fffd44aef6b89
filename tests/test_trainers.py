"""GIFTTrainer on TRL: whole groups in every loss call, and the loss it computes is GIFT's."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from gift.losses import gift_loss
from gift.trainers import GIFTConfig, GIFTTrainer, assert_whole_groups, shuffle_and_split_groups
from tests.policy_fixtures import build_random_policy, completion_token_logps, length_reward, write_addition_prompts

N = 4


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return build_random_policy(tmp_path_factory.mktemp("policy"))


def _independent_gift_loss(explicit, implicit, beta, eps=1e-6):
    def z(row):
        n = len(row)
        m = sum(row) / n
        s = (sum((v - m) ** 2 for v in row) / (n - 1)) ** 0.5
        return [(v - m) / (s + eps) for v in row]

    total = 0.0
    for r_row, h_row in zip(explicit.tolist(), implicit.tolist(), strict=True):
        total += sum((a - beta * b) ** 2 for a, b in zip(z(r_row), z(h_row), strict=True))
    return total / explicit.numel()


@pytest.mark.parametrize("reference", ["reference", "rollout"])
def test_gift_trainer_sees_only_whole_groups_and_computes_the_gift_loss(policy_dir, tmp_path, reference):
    from datasets import Dataset, load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = load_dataset("json", data_files=str(write_addition_prompts(tmp_path / "train.jsonl")), split="train")
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    frozen_reference = copy.deepcopy(model).eval()
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    args = GIFTConfig(
        output_dir=str(tmp_path / "out"), num_generations=N, per_device_train_batch_size=2 * N,
        gradient_accumulation_steps=2, max_completion_length=8, max_steps=3, learning_rate=5e-3,
        logging_steps=1, report_to="none", use_cpu=True, gradient_checkpointing=False, save_strategy="no",
        implicit_reference=reference, gift_beta=0.7, seed=3, bf16=False,
    )
    trainer = GIFTTrainer(model=model, reward_funcs=[length_reward], args=args, train_dataset=Dataset.from_list(
        list(data)), processing_class=tokenizer)
    calls = []

    def observe(inputs, explicit, implicit, loss, group_size):
        assert_whole_groups(inputs["group_ids"], group_size)
        # independent of group ids: the rows of each group share one prompt
        prompts = inputs["prompt_ids"].view(-1, group_size, inputs["prompt_ids"].shape[1])
        for group in prompts:
            assert all(torch.equal(row, group[0]) for row in group), "a group mixes prompts"
        with torch.no_grad():
            policy = completion_token_logps(trainer.model, inputs["prompt_ids"], inputs["prompt_mask"],
                                  inputs["completion_ids"], inputs["completion_mask"])
            if reference == "reference":
                base = completion_token_logps(frozen_reference, inputs["prompt_ids"], inputs["prompt_mask"],
                                    inputs["completion_ids"], inputs["completion_mask"])
            else:
                base = policy  # on-policy: the rollout policy is the current one
        mask = inputs["completion_mask"].float()
        rhat = ((policy - base) * mask).sum(-1).view(-1, group_size)
        torch.testing.assert_close(implicit.float(), rhat, atol=2e-4, rtol=1e-3)
        # the explicit reward the loss used is the reward function's, recomputed from the text
        texts = tokenizer.batch_decode(inputs["completion_ids"] * inputs["completion_mask"], skip_special_tokens=True)
        expected_r = torch.tensor([len(t) % 3 for t in texts], dtype=torch.float32).view(-1, group_size)
        torch.testing.assert_close(explicit.float(), expected_r)
        assert loss.item() == pytest.approx(_independent_gift_loss(explicit, implicit, beta=0.7), rel=1e-4, abs=1e-6)
        assert loss.item() == pytest.approx(gift_loss(explicit, rhat, beta=0.7).item(), rel=1e-3, abs=1e-4)
        calls.append(inputs["group_ids"].tolist())

    trainer.loss_observer = observe
    trainer.train()
    assert len(calls) == 3 * 2, "two micro-steps per optimizer step"
    for first, second in zip(calls[::2], calls[1::2], strict=True):
        assert len(first) == len(second) == 2 * N
        assert not set(first) & set(second), "a group appears in two micro-batches of one generation batch"
    logged = [h for h in trainer.state.log_history if "implicit_reward/mean" in h]
    assert logged and all("implicit_explicit_corr" in h or h["implicit_reward/std"] == 0 for h in logged)


def test_row_shuffling_as_trl_does_is_caught():
    group_ids = torch.arange(16) // N
    batch = {"group_ids": group_ids, "x": torch.arange(16)}
    chunks = shuffle_and_split_groups(batch, N, 2, generator=torch.Generator().manual_seed(0))
    for chunk in chunks:
        assert_whole_groups(chunk["group_ids"], N)
        # rows keep their payload: x still belongs to its group
        assert torch.equal(chunk["x"] // N, chunk["group_ids"])
    scattered = group_ids[torch.randperm(16, generator=torch.Generator().manual_seed(1))][:8]
    with pytest.raises(AssertionError, match="group"):
        assert_whole_groups(scattered, N)


def test_gift_config_rejects_batches_that_split_groups():
    with pytest.raises(ValueError, match="multiple of num_generations"):
        # TRL accepts this (12 completions per generation batch = 3 groups), but each micro-batch of 6 splits one
        GIFTConfig(output_dir="/tmp/x", num_generations=4, per_device_train_batch_size=6,
                   gradient_accumulation_steps=2, report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match="implicit_reference"):
        GIFTConfig(output_dir="/tmp/x", num_generations=4, per_device_train_batch_size=4, report_to="none",
                   use_cpu=True, implicit_reference="policy")


def test_the_choices_the_workflow_checks_are_the_ones_the_gift_config_accepts(tmp_path):
    """The DAG-time check reads `choices` from the config's field metadata; the config itself must agree."""
    from gift.methods import config_field_choices

    gift_fields = ("implicit_aggregation", "implicit_statistics", "implicit_reference", "singleton")
    choices = {k: v for k, v in config_field_choices("gift").items() if k in gift_fields}
    assert set(choices) == set(gift_fields)
    common = dict(output_dir=str(tmp_path), num_generations=4, per_device_train_batch_size=4, report_to="none",
                  use_cpu=True, implicit_length_power=0.5)
    for field_name, values in choices.items():
        for value in values:
            assert getattr(GIFTConfig(**common, **{field_name: value}), field_name) == value
        with pytest.raises(ValueError, match=field_name):
            GIFTConfig(**common, **{field_name: "none-of-these"})


@pytest.mark.parametrize("singleton", ["author", "pointwise"])
def test_gift_with_one_response_per_prompt_follows_the_singleton_rule(policy_dir, tmp_path, singleton):
    """N = 1 (Figure 2a): `author` gives loss mean (r/(1+eps))^2 (z is 0 in value); `pointwise` mean (r - beta rhat)^2."""
    from datasets import Dataset, load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = load_dataset("json", data_files=str(write_addition_prompts(tmp_path / "train.jsonl")), split="train")
    args = GIFTConfig(output_dir=str(tmp_path / "out"), num_generations=1, per_device_train_batch_size=4,
                      max_completion_length=6, max_steps=2, learning_rate=5e-3, report_to="none", use_cpu=True,
                      gradient_checkpointing=False, save_strategy="no", bf16=False, gift_beta=0.5,
                      singleton=singleton)
    trainer = GIFTTrainer(model=AutoModelForCausalLM.from_pretrained(policy_dir), reward_funcs=[length_reward],
                          args=args, train_dataset=Dataset.from_list(list(data)),
                          processing_class=AutoTokenizer.from_pretrained(policy_dir))
    losses = []

    def observe(inputs, explicit, implicit, loss, group_size):
        assert group_size == 1 and explicit.shape == (4, 1)
        if singleton == "author":
            expected = ((explicit / (1 + 1e-6)) ** 2).mean()
        else:
            expected = ((explicit - 0.5 * implicit) ** 2).mean()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
        losses.append(loss.item())

    trainer.loss_observer = observe
    trainer.train()
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


def test_rollout_reference_is_zero_at_the_first_update_of_each_rollout_batch_only(policy_dir, tmp_path):
    """4 updates per rollout batch (the paper's 1024/256): rhat against the sampling policy is 0 at
    update 1 (the policy has not moved) and non-zero at updates 2-4, and 0 again when a new batch is sampled."""
    from datasets import Dataset, load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = load_dataset("json", data_files=str(write_addition_prompts(tmp_path / "train.jsonl")), split="train")
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    args = GIFTConfig(output_dir=str(tmp_path / "out"), num_generations=N, per_device_train_batch_size=N,
                      gradient_accumulation_steps=1, steps_per_generation=4, max_completion_length=6, max_steps=5,
                      learning_rate=5e-3, report_to="none", use_cpu=True, gradient_checkpointing=False,
                      save_strategy="no", bf16=False, implicit_reference="rollout")
    trainer = GIFTTrainer(model=model, reward_funcs=[length_reward], args=args, train_dataset=Dataset.from_list(list(data)),
                          processing_class=tokenizer)
    snapshots = []

    def observe(inputs, explicit, implicit, loss, group_size):
        # the implicit reward the loss used, recomputed from scratch: current policy minus the rollout policy's
        with torch.no_grad():
            policy = completion_token_logps(trainer.model, inputs["prompt_ids"], inputs["prompt_mask"],
                                            inputs["completion_ids"], inputs["completion_mask"])
        mask = inputs["completion_mask"].float()
        rhat = ((policy - inputs["old_per_token_logps"]) * mask).sum(-1)
        torch.testing.assert_close(implicit.float().reshape(-1), rhat, atol=2e-4, rtol=1e-3)
        snapshots.append(implicit.abs().max().item())

    trainer.loss_observer = observe
    trainer.train()
    assert len(snapshots) == 5
    assert snapshots[0] < 1e-4 and snapshots[4] < 1e-4, snapshots  # first update of batch 1 and of batch 2
    assert min(snapshots[1:4]) > 1e-3, snapshots  # updates 2-4 measure how far the policy moved
