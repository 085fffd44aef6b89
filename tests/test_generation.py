"""The shared generation helper: n completions per chat prompt, left padding, seeds, greedy."""

from __future__ import annotations

import pytest
import torch

from gift.generation import generate, load_model

PROMPTS = [
    [{"role": "user", "content": "Tom has 3 apples. Tom gets 4 more. How many apples does Tom have now?"}],
    [{"role": "user", "content": "Reverse the word cat."}],
    [{"role": "user", "content": "Compute $7+8$."}],
]


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(tiny_model_dir)


def test_returns_n_completions_per_prompt(lm):
    model, tok = lm
    out = generate(model, tok, PROMPTS, n=3, max_new_tokens=6, batch_size=4, seed=1, progress=False)
    assert len(out) == len(PROMPTS) and all(len(c) == 3 and all(isinstance(s, str) for s in c) for c in out)


def test_sampling_is_deterministic_for_a_seed_and_restores_the_rng(lm):
    model, tok = lm
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = generate(model, tok, PROMPTS, n=2, max_new_tokens=8, seed=7, progress=False)
    assert torch.rand(1) == expected_next  # the caller's RNG stream is untouched
    b = generate(model, tok, PROMPTS, n=2, max_new_tokens=8, seed=7, progress=False)
    c = generate(model, tok, PROMPTS, n=2, max_new_tokens=8, seed=8, progress=False)
    assert a == b and a != c


def test_greedy_left_padded_batch_matches_one_prompt_at_a_time(lm):
    model, tok = lm
    batched = generate(model, tok, PROMPTS, n=2, max_new_tokens=8, batch_size=8, greedy=True, progress=False)
    for prompt, completions in zip(PROMPTS, batched, strict=True):
        # Independent computation: argmax decoding by hand, no padding.
        text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        new = []
        with torch.no_grad():
            for _ in range(8):
                nxt = int(model(input_ids=ids).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    break
                new.append(nxt)
                ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        assert completions == [tok.decode(new, skip_special_tokens=True)] * 2


def test_accepts_a_model_directory_and_restores_training_mode(tiny_model_dir, lm):
    out = generate(str(tiny_model_dir), None, PROMPTS[:1], n=1, max_new_tokens=4, greedy=True, progress=False,
                   backend="hf")
    model, tok = lm
    model.train()
    same = generate(model, tok, PROMPTS[:1], n=1, max_new_tokens=4, greedy=True, progress=False)
    assert model.training and out == same


def test_bad_arguments_are_named(lm):
    model, tok = lm
    with pytest.raises(ValueError, match="n must be"):
        generate(model, tok, PROMPTS, n=0)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, tok, PROMPTS, temperature=0.0, progress=False)
    with pytest.raises(ValueError, match="backend"):
        generate(model, tok, PROMPTS, backend="tgi")
    assert generate(model, tok, [], n=2) == []


def test_missing_model_directory_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="not a local directory"):
        load_model(tmp_path / "nope")


def test_the_periodic_eval_ignores_the_models_generation_config_as_vllm_does(policy_dir, prompts, tmp_path):
    """A checkpoint's generation_config.json (Qwen2.5-Instruct's carries repetition_penalty 1.05) must not reach the
    in-training eval on the HF path: the trainer's vLLM engine never reads it."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from trl import GRPOConfig, GRPOTrainer

    from gift.files import read_jsonl
    from gift.generation import trainer_generate

    tok = AutoTokenizer.from_pretrained(policy_dir)
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    model.generation_config.repetition_penalty = 3.0  # strong enough to change a random model's greedy text
    args = GRPOConfig(output_dir=str(tmp_path), num_generations=2, per_device_train_batch_size=2, max_steps=1,
                      max_completion_length=8, report_to="none", use_cpu=True, bf16=False, save_strategy="no")
    trainer = GRPOTrainer(model=model, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)], args=args,
                          train_dataset=Dataset.from_list(read_jsonl(prompts)), processing_class=tok)
    chats = [r["prompt"] for r in read_jsonl(prompts)[:4]]
    got = [c[0] for c in trainer_generate(trainer, tok, chats, greedy=True, max_new_tokens=16)]

    plain = GenerationConfig(do_sample=False, max_new_tokens=16, repetition_penalty=1.0,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    penalised = GenerationConfig(**{**plain.to_diff_dict(), "repetition_penalty": 3.0})
    want, with_penalty = [], []
    for chat in chats:
        ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        for config, out in ((plain, want), (penalised, with_penalty)):
            gen = trainer.model.generate(**ids, generation_config=config)
            out.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    assert want != with_penalty, "the penalty changes the greedy text, so the comparison can tell"
    assert got == want


# ---- one set of prompt ids and sampling parameters, whatever the model's generation_config.json says ----------

def _argmax_decode(model, ids: list[int], steps: int, stop: set[int]) -> list[int]:
    """Greedy decoding by hand from `ids`: no processors, no padding."""
    x = torch.tensor([ids])
    new: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(input_ids=x).logits[0, -1].argmax())
            if nxt in stop:
                break
            new.append(nxt)
            x = torch.cat([x, torch.tensor([[nxt]])], dim=1)
    return new


def test_hf_greedy_ignores_the_generation_config_and_stops_at_its_eos_ids(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from gift.generation import chat_prompt_ids, sampling_settings
    from tests.policy_fixtures import BOS, build_bos_policy

    path = build_bos_policy(tmp_path / "m", hidden=32, generation_config={
        "repetition_penalty": 1.3, "do_sample": True, "temperature": 0.7, "top_k": 5, "no_repeat_ngram_size": 2})
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = chat_prompt_ids(tok, PROMPTS[:1])[0]
    assert ids[0] == tok.convert_tokens_to_ids(BOS) and ids[1] != ids[0], "the template's BOS, and only one"
    plain = _argmax_decode(model, ids, 12, {tok.eos_token_id})
    assert len(plain) == 12 and len(set(plain)) < len(plain), "a repetition penalty would change this completion"
    out = generate(str(path), None, PROMPTS[:1], max_new_tokens=12, greedy=True, progress=False, backend="hf")
    assert out == [[tok.decode(plain, skip_special_tokens=True)]]

    # An EOS id of generation_config.json (not the tokenizer's) ends the completion where it first appears.
    cut = plain[5]
    cfg = GenerationConfig.from_pretrained(path)
    cfg.eos_token_id = [tok.eos_token_id, cut]
    cfg.save_pretrained(path)
    out = generate(str(path), None, PROMPTS[:1], max_new_tokens=12, greedy=True, progress=False, backend="hf")
    assert out == [[tok.decode(plain[:plain.index(cut)], skip_special_tokens=True)]]
    settings = sampling_settings(tok, str(path), n=4, temperature=0.9, max_new_tokens=12)
    assert settings["stop_token_ids"] == [tok.eos_token_id, cut]
    assert (settings["repetition_penalty"], settings["top_k"], settings["temperature"]) == (1.0, None, 0.9)
