"""Forward passes per rollout batch: GIFT runs only those its mode reads (counted on a real tiny model), and
the method config and `gift estimate` say the same.

Every forward call of the policy and of the reference model outside generation is counted by forward
hooks, in rows: scoring passes without gradient (TRL's old log-probs on the policy, the reference
log-probs on the reference model) and the loss's pass with gradient. GRPO with a KL term and several
updates per rollout batch pays for both scoring passes; it is the control that shows the count sees them.
"""

from __future__ import annotations

import pytest
import torch

from tests.policy_fixtures import build_random_policy, length_reward, write_addition_prompts

N = 2
ROWS = 4  # rows per optimizer update (two groups of N)


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return build_random_policy(tmp_path_factory.mktemp("policy"), hidden=16, layers=1)


def _count_passes(method: str, policy_dir, tmp_path, updates: int, **overrides) -> dict[str, int]:
    """Train one rollout batch of `updates` optimizer updates; rows per kind of forward pass."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gift.estimate import logprob_passes, resolved_method_args
    from gift.methods import method_config_kwargs
    from gift.trainers.registry import method_classes

    classes = method_classes(method)
    method_args = {"num_generations": N, "max_completion_length": 4, "per_device_train_batch_size": ROWS,
                   "gradient_accumulation_steps": 1, "steps_per_generation": updates, "learning_rate": 1e-3,
                   **overrides}
    kwargs = method_config_kwargs(method, method_args)
    args = classes.config(
        **kwargs, output_dir=str(tmp_path / method), max_steps=updates, logging_steps=1, report_to="none",
        use_cpu=True, gradient_checkpointing=False, save_strategy="no", bf16=False, seed=0, disable_tqdm=True,
    )
    data = load_dataset("json", data_files=str(write_addition_prompts(tmp_path / "train.jsonl")), split="train")
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    trainer = classes.trainer(model=model, reward_funcs=[length_reward], args=args, train_dataset=data,
                                   processing_class=AutoTokenizer.from_pretrained(policy_dir))
    counts = {"policy_no_grad": 0, "policy_grad": 0, "reference": 0, "generate_calls": 0}
    generating = [False]
    generate = model.generate

    def counted_generate(*a, **k):
        counts["generate_calls"] += 1
        generating[0] = True
        try:
            return generate(*a, **k)
        finally:
            generating[0] = False

    model.generate = counted_generate

    def on_policy(module, inputs, kwargs, output):
        if not generating[0]:
            rows = kwargs["input_ids"].shape[0] if "input_ids" in kwargs else inputs[0].shape[0]
            counts["policy_grad" if torch.is_grad_enabled() else "policy_no_grad"] += rows

    def on_reference(module, inputs, kwargs, output):
        counts["reference"] += kwargs["input_ids"].shape[0] if "input_ids" in kwargs else inputs[0].shape[0]

    model.register_forward_hook(on_policy, with_kwargs=True)
    if trainer.ref_model is not None:
        trainer.ref_model.register_forward_hook(on_reference, with_kwargs=True)
    trainer.train()
    assert trainer.args.gradient_accumulation_steps == 1, "the trainer must leave its arguments as it found them"
    counts["has_reference_model"] = int(trainer.ref_model is not None)
    # what the run's config and `gift estimate` say it runs, asked before the counts are compared
    counts["config_says"] = trainer.args.forward_passes.extra()
    counts["estimate_says"] = logprob_passes(method, resolved_method_args(method, method_args), use_vllm=False)
    return counts


# (method, updates per rollout batch, overrides, expected no-grad policy rows, reference rows, reference model?)
CASES = [
    # the paper's implicit reward against pi_ref: the reference pass, never old log-probs
    ("gift", 1, {"implicit_reference": "reference"}, 0, 1, True),
    ("gift", 4, {"implicit_reference": "reference"}, 0, 1, True),
    # against the rollout policy: old log-probs only once the policy moves within a rollout batch; no reference
    ("gift", 1, {"implicit_reference": "rollout"}, 0, 0, False),
    ("gift", 4, {"implicit_reference": "rollout"}, 1, 0, False),
    # a KL term brings the reference back
    ("gift", 4, {"implicit_reference": "rollout", "beta": 0.01}, 1, 1, True),
    # the control: TRL's GRPO with its KL term pays for both scoring passes
    ("grpo", 4, {"beta": 0.001}, 1, 1, True),
    # TRL's rules for the other baselines: old log-probs once a rollout batch feeds several updates, no KL
    ("dapo", 4, {}, 1, 0, False),
    ("gspo", 1, {}, 0, 0, False),
    # GFT's loss has no importance ratio: no old log-probs however many updates a rollout batch feeds
    ("gft", 4, {"n_expert": 0, "n_teacher": 0, "n_sampled": N}, 0, 0, False),
]


@pytest.mark.parametrize(("method", "updates", "overrides", "old", "ref", "has_ref"), CASES,
                         ids=[f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[2].items())}-{c[1]}updates" for c in CASES])
def test_forward_passes_per_rollout_batch(policy_dir, tmp_path, method, updates, overrides, old, ref, has_ref):
    counts = _count_passes(method, policy_dir, tmp_path, updates, **overrides)
    batch = ROWS * updates  # rows of one rollout batch
    assert counts["generate_calls"] == 1, counts
    assert counts["policy_grad"] == batch, counts  # each row's loss pass, once
    assert counts["policy_no_grad"] == old * batch, counts
    assert counts["reference"] == ref * batch, counts
    assert counts["has_reference_model"] == int(has_ref), counts
    # the config (which the trainer reads) and gift estimate give the passes the run made
    assert counts["config_says"] == counts["estimate_says"] == {"reference": ref, "old_policy": old}, counts


def test_gift_refuses_vllm_importance_sampling_correction(tmp_path):
    from gift.trainers import GIFTConfig

    common = {"output_dir": str(tmp_path), "num_generations": 2, "per_device_train_batch_size": 2, "use_cpu": True,
              "bf16": False}
    assert GIFTConfig(**common).vllm_importance_sampling_correction is False
    with pytest.raises(ValueError, match="vllm_importance_sampling_correction must be False"):
        GIFTConfig(**common, vllm_importance_sampling_correction=True)
