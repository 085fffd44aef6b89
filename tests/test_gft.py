"""GFTTrainer: mixed groups of dataset and sampled responses, GRPO advantages, GFT's rectified token loss."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gift.trainers import GFTConfig, GFTTrainer
from tests.policy_fixtures import build_random_policy, completion_token_logps

EOS = "<|im_end|>"
MIX = {"n_expert": 1, "n_teacher": 2, "n_sampled": 3}  # not the default 1+3+4, so the test sees the config
N = sum(MIX.values())


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return build_random_policy(tmp_path_factory.mktemp("policy"))


def keyword_reward(prompts, completions, **kwargs):
    """1 if the response says 'good': dataset members differ, so every group has spread."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [1.0 if "good" in t else 0.0 for t in texts]


def _rows():
    # no whitespace: the fixture's reloaded tokenizer drops spaces, and the test spells the encoding out per character
    return [
        {"id": "ex-0", "prompt": [{"role": "user", "content": "1+1=?"}], "ground_truth": "2",
         "expert": "good:2", "teachers": ["good=2", "itis3", "unusedteacher"]},
        {"id": "ex-1", "prompt": [{"role": "user", "content": "2+5=?"}], "ground_truth": "7",
         "expert": "7itis", "teachers": ["averylonggoodteacheranswer", "good:7"]},
    ]


def _trainer(policy_dir, tmp_path, rows, **overrides):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(output_dir=str(tmp_path / "out"), num_generations=N, per_device_train_batch_size=N,
                  gradient_accumulation_steps=2, max_completion_length=12, max_steps=2, learning_rate=1e-2,
                  logging_steps=1, report_to="none", use_cpu=True, gradient_checkpointing=False, save_strategy="no",
                  bf16=False, seed=0, **MIX)
    kwargs.update(overrides)
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    trainer = GFTTrainer(model=model, reward_funcs=[keyword_reward], args=GFTConfig(**kwargs),
                         train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trainer.model.train()
    return trainer, tokenizer


def _count_generated_rows(trainer) -> list[int]:
    """Wrap the policy's generate to record how many rows each call samples."""
    calls: list[int] = []
    original = trainer.model.generate

    def generate(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    trainer.model.generate = generate
    return calls


def _generation_batch(rows, n=N):
    return [dict(row) for row in rows for _ in range(n)]  # as TRL's RepeatSampler lays out a generation batch


def _char_ids(tokenizer, text: str, limit: int) -> list[int]:
    """The character-level tokenizer's encoding, built from its vocabulary, plus EOS, truncated."""
    return tokenizer.convert_tokens_to_ids(list(text) + [EOS])[:limit]


def _hand_zscore(values: list[float]) -> list[float]:
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    return [(v - m) / (s + 1e-6) for v in values]


def test_groups_hold_the_configured_mix_and_the_dataset_texts_as_tokens(policy_dir, tmp_path):
    rows = _rows()
    trainer, tok = _trainer(policy_dir, tmp_path, rows)
    calls = _count_generated_rows(trainer)
    out = trainer._generate_and_score_completions(_generation_batch(rows))

    assert sum(calls) == len(rows) * MIX["n_sampled"], "only the sampled members are generated"
    kinds = out["member_kinds"].view(-1, N).tolist()
    assert kinds == [[0] * MIX["n_expert"] + [1] * MIX["n_teacher"] + [2] * MIX["n_sampled"]] * len(rows)
    limit = trainer.args.max_completion_length
    ids, mask = out["completion_ids"], out["completion_mask"]
    for g, row in enumerate(rows):
        expected = [row["expert"], *row["teachers"][: MIX["n_teacher"]]]
        for j, text in enumerate(expected):
            r = g * N + j
            assert ids[r][mask[r].bool()].tolist() == _char_ids(tok, text, limit), (row["id"], j)
        prompts = out["prompt_ids"][g * N : (g + 1) * N]
        assert all(torch.equal(p, prompts[0]) for p in prompts), "a group mixes prompts"
    # the long teacher is cut to max_completion_length and, like a truncated generation, has no EOS
    long_row = N + 1  # ex-1, first teacher
    assert int(mask[long_row].sum()) == limit and tok.convert_tokens_to_ids(EOS) not in ids[long_row].tolist()

    # advantages: a hand z-score of the reward recomputed from each member's text
    texts = tok.batch_decode([ids[r][mask[r].bool()] for r in range(ids.shape[0])], skip_special_tokens=True)
    rewards = [1.0 if "good" in t else 0.0 for t in texts]
    expected_adv = [a for g in range(len(rows)) for a in _hand_zscore(rewards[g * N : (g + 1) * N])]
    torch.testing.assert_close(out["advantages"].float(), torch.tensor(expected_adv), atol=1e-5, rtol=1e-5)
    metrics = trainer._metrics["train"]
    assert metrics["gft/reward_expert"][-1] == pytest.approx(sum(rewards[g * N] for g in range(2)) / 2)
    teacher_rewards = [rewards[g * N + 1 + j] for g in range(2) for j in range(MIX["n_teacher"])]
    assert metrics["gft/reward_teacher"][-1] == pytest.approx(sum(teacher_rewards) / len(teacher_rewards))


def test_transformers_rollouts_generate_the_sampled_members_in_bounded_chunks(policy_dir, tmp_path):
    """A rank's sampled members go through `generate` in calls of at most rollout_chunk_rows rows, whole
    groups' members at a time (4 rows -> one group's 3), not the whole generation batch in one call."""
    from gift.generation import bound_rollout_chunks

    rows = _rows() * 2  # 4 prompts: 12 sampled members
    trainer, _ = _trainer(policy_dir, tmp_path, rows)
    bound_rollout_chunks(trainer, max_rows=N)  # as `gift train` does: rollout_chunk_rows = one group of 6
    calls = _count_generated_rows(trainer)
    out = trainer._generate_and_score_completions(_generation_batch(rows))
    assert calls == [6, 6], "two groups' sampled members (3 each) per call"
    kinds = out["member_kinds"].view(-1, N).tolist()
    assert kinds == [[0] * MIX["n_expert"] + [1] * MIX["n_teacher"] + [2] * MIX["n_sampled"]] * len(rows)
    trainer.rollout_chunk_rows = 4  # not a multiple of the 3 sampled members: one group's members per call
    calls.clear()
    trainer._generate_and_score_completions(_generation_batch(rows))
    assert calls == [3, 3, 3, 3]


def test_no_sampling_log_probs_are_computed_for_a_loss_without_ratio(policy_dir, tmp_path):
    rows = _rows()
    # two optimizer steps per generation batch: TRL would compute the sampling policy's log-probs
    trainer, _ = _trainer(policy_dir, tmp_path, rows, gradient_accumulation_steps=1, steps_per_generation=2)
    forwards = []
    original = trainer.model.forward
    trainer.model.forward = lambda *a, **k: forwards.append(1) or original(*a, **k)
    out = trainer._generate_and_score_completions(_generation_batch(rows))
    assert "old_per_token_logps" not in out
    generated = forwards.copy()
    loss = trainer._compute_loss(trainer.model, out)
    assert torch.isfinite(loss) and len(forwards) == len(generated) + 1, "the loss still runs its own forward pass"


def test_token_gradient_weight_is_one_up_to_tau_and_one_over_pi_above(policy_dir, tmp_path):
    """Through the trainer's _compute_loss: d loss / d pi = -A * (1 if pi <= tau else 1/pi) / (tokens * accumulation)."""
    rows = _rows()
    trainer, _ = _trainer(policy_dir, tmp_path, rows)
    batch = trainer._generate_and_score_completions(_generation_batch(rows))
    mask = batch["completion_mask"].float()
    advantages = batch["advantages"].float()
    assert (advantages.abs() > 0.1).any()
    gas = trainer.args.gradient_accumulation_steps
    for tau in (0.5, 0.1):
        trainer.args.gft_tau = tau
        generator = torch.Generator().manual_seed(0)
        probs = torch.rand(mask.shape, generator=generator) * 0.98 + 0.01
        probs[0, :3] = torch.tensor([tau, tau * 0.999, min(tau * 1.001, 0.999)])  # at and around the threshold
        leaf = probs.clone().requires_grad_(True)
        trainer._get_per_token_logps_and_entropies = lambda *a, leaf=leaf, **k: (torch.log(leaf), None, None)
        loss = trainer._compute_loss(trainer.model, batch)
        loss.backward()
        grad = leaf.grad
        assert torch.all(grad[mask == 0] == 0), "padding gets no gradient"
        rows_with_signal = advantages.abs() > 1e-3
        scale = -advantages[:, None] / (mask.sum() * gas)
        weight = grad[rows_with_signal] / scale.expand_as(grad)[rows_with_signal]
        p = probs[rows_with_signal]
        expected = torch.where(p <= tau, torch.ones_like(p), 1.0 / p)
        m = mask[rows_with_signal].bool()
        torch.testing.assert_close(weight[m], expected[m], rtol=1e-4, atol=1e-5)
        assert (p[m] <= tau).any() and (p[m] > tau).any(), "both sides of tau are exercised"
        frac = trainer._metrics["train"]["gft/frac_above_tau"][-1]
        assert frac == pytest.approx(((probs > tau).float() * mask).sum().item() / mask.sum().item())


def test_the_loss_of_a_training_run_equals_an_independent_computation(policy_dir, tmp_path):
    rows = _rows()
    tau = 0.02  # a random policy puts ~1/100 on each token: tokens fall on both sides
    trainer, tok = _trainer(policy_dir, tmp_path, rows, gft_tau=tau, max_steps=2, per_device_train_batch_size=N,
                            gradient_accumulation_steps=2)
    seen = []

    def observe(inputs, per_token_logps, advantages, mask, loss):
        with torch.no_grad():
            logps = completion_token_logps(trainer.model, inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"],
                                 inputs["completion_mask"])
        m = inputs["completion_mask"].float()
        ids = inputs["completion_ids"]
        texts = tok.batch_decode([ids[r][m[r].bool()] for r in range(ids.shape[0])], skip_special_tokens=True)
        rewards = [1.0 if "good" in t else 0.0 for t in texts]
        adv = [0.0] * len(rewards)
        groups = inputs["group_ids"].tolist()
        for g in set(groups):
            members = [i for i, x in enumerate(groups) if x == g]
            for i, a in zip(members, _hand_zscore([rewards[i] for i in members]), strict=True):
                adv[i] = a
        adv_t = torch.tensor(adv)[:, None]
        p = logps.exp()
        w = torch.where(p <= tau, p, torch.ones_like(p))
        expected = -(logps * w * adv_t * m).sum() / m.sum()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-6)
        seen.append(((p > tau) * m).sum().item() / m.sum().item())

    trainer.loss_observer = observe
    trainer.train()
    assert len(seen) == 2 * 2, "two micro-steps per optimizer step"
    assert any(0 < f < 1 for f in seen), "tau splits the tokens"
    logged = [h for h in trainer.state.log_history if "gft/frac_above_tau" in h]
    assert len(logged) == 2 and all("gft/reward_sampled" in h and "gft/reward_expert" in h for h in logged)


def test_a_prompt_without_expert_or_teachers_is_an_error_naming_it(policy_dir, tmp_path):
    rows = _rows() + [{"id": "ex-bare", "prompt": [{"role": "user", "content": "3+3=?"}], "ground_truth": "6",
                       "expert": "", "teachers": []}]
    trainer, _ = _trainer(policy_dir, tmp_path, rows)
    with pytest.raises(ValueError, match=r"'ex-bare'.*no expert demonstration.*fallback_to_sampling"):
        trainer._generate_and_score_completions(_generation_batch(rows))
    short = [dict(_rows()[0], id="ex-one-teacher", teachers=["good"])]
    with pytest.raises(ValueError, match=r"'ex-one-teacher' has 1 teacher response"):
        trainer._generate_and_score_completions(_generation_batch(short))


def test_fallback_fills_missing_members_by_sampling_and_counts_them(policy_dir, tmp_path):
    rows = _rows() + [{"id": "ex-bare", "prompt": [{"role": "user", "content": "3+3=?"}], "ground_truth": "6",
                       "expert": None, "teachers": ["good:6"]}]
    trainer, tok = _trainer(policy_dir, tmp_path, rows, fallback_to_sampling=True)
    calls = _count_generated_rows(trainer)
    out = trainer._generate_and_score_completions(_generation_batch(rows))
    # the bare example keeps its one teacher; expert and second teacher slots are sampled
    assert sum(calls) == 2 * MIX["n_sampled"] + (N - 1)
    kinds = out["member_kinds"].view(-1, N).tolist()
    assert kinds[2] == [1] + [2] * (N - 1)
    r = 2 * N
    mask = out["completion_mask"][r].bool()
    assert out["completion_ids"][r][mask].tolist() == _char_ids(tok, "good:6", trainer.args.max_completion_length)
    assert trainer._metrics["train"]["gft/fallback_groups"][-1] == 1.0
    assert trainer._metrics["train"]["gft/fallback_group_frac"][-1] == pytest.approx(1 / 3)


def test_config_checks_and_registry_entry():
    common = dict(output_dir="/tmp/gft-cfg", report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match=r"num_generations \(6\) must equal .* = 8"):
        GFTConfig(num_generations=6, per_device_train_batch_size=6, **common)
    with pytest.raises(ValueError, match="no KL term"):
        GFTConfig(per_device_train_batch_size=8, beta=0.04, **common)
    with pytest.raises(ValueError, match="gft_tau"):
        GFTConfig(per_device_train_batch_size=8, gft_tau=0.0, **common)
    # TRL's vLLM importance-sampling correction would cost a forward pass the loss never reads
    assert GFTConfig(per_device_train_batch_size=8, **common).vllm_importance_sampling_correction is False
    with pytest.raises(ValueError, match="importance_sampling_correction must be False"):
        GFTConfig(per_device_train_batch_size=8, vllm_importance_sampling_correction=True, **common)
    with pytest.raises(ValueError, match="whole groups"):
        # TRL accepts this (one group per generation batch of 2 micro-batches), but each micro-batch splits it
        GFTConfig(per_device_train_batch_size=4, gradient_accumulation_steps=2, **common)

    from gift.methods import get_method, method_config_kwargs

    spec = get_method("gft")
    from gift.trainers import TRAINERS

    assert TRAINERS["gft"] == (GFTConfig, GFTTrainer)
    kwargs = method_config_kwargs("gft", {"gft_tau": "0.1"})
    assert kwargs["gft_tau"] == 0.1 and kwargs["learning_rate"] == 1e-6 and kwargs["num_generations"] == 8
    assert (kwargs["n_expert"], kwargs["n_teacher"], kwargs["n_sampled"]) == (1, 3, 4)
    cfg = GFTConfig(per_device_train_batch_size=8, **{k: v for k, v in kwargs.items()}, **common)
    assert cfg.beta == 0.0 and cfg.max_completion_length == 2048 and cfg.num_train_epochs == 1
    assert spec.properties["rl"] is True and spec.properties["group_normalisation"] is True
    # TRL's vLLM importance-sampling correction (an extra forward pass GFT's loss never reads): off by default,
    # in the config class and in the registry, and a config may still turn it on
    assert GFTConfig(per_device_train_batch_size=8, **common).vllm_importance_sampling_correction is False
    assert kwargs["vllm_importance_sampling_correction"] is False
    assert method_config_kwargs("gft", {"vllm_importance_sampling_correction": True})[
        "vllm_importance_sampling_correction"] is True


def test_gift_train_runs_gft_on_the_numina_distillation_twin(policy_dir, tmp_path):
    from gift.data.prepare import prepare
    from gift.files import read_jsonl
    from gift.run.train import train

    prepare("numina_distill", "synthetic", tmp_path / "data", limits={"train": 4})
    examples = read_jsonl(tmp_path / "data" / "train.jsonl")
    assert all(e["expert"] and len(e["teachers"]) >= 1 for e in examples)
    run = train({
        "run_id": "gft-smoke", "method": "gft", "model": str(policy_dir), "train_data": str(tmp_path / "data" /
        "train.jsonl"), "reward": "math", "output_dir": str(tmp_path / "run"), "max_steps": 2, "seed": 0,
        "save_every": 10, "max_prompt_length": 180,
        "method_args": {"num_generations": 4, "n_expert": 1, "n_teacher": 1, "n_sampled": 2,
                        "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                        "max_completion_length": 64, "learning_rate": 1e-4},
    })
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(math.isfinite(m["loss"]) for m in metrics)
    # the expert member is a correct worked solution that fits in 64 tokens: at least 1 of 4 members scores 1
    assert all(m["reward_mean"] >= 0.25 for m in metrics)
    assert all(m["reward_expert"] == 1.0 and "reward_sampled" in m and "frac_above_tau" in m for m in metrics)
    assert (run / "DONE").exists() and (run / "final" / "config.json").exists()
    manifest = json.loads((run / "manifest.json").read_text())
    assert "gft" in json.dumps(manifest)
