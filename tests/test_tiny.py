"""Tiny models: tokenizer with Qwen's chat template, warm-started backbone, Bradley-Terry reward model."""

from __future__ import annotations

import json
import random

import pytest
import torch

from gift.tiny.backbone import (
    _band_distance,
    _clearly_in_band,
    _stop_reason,
    build_backbone,
    cli_backbone,
    sft_backward,
    sft_slices,
)
from gift.tiny.build import train_tokenizer
from gift.tiny.reward_model import FILLER, build_reward_model, cli_reward_model, preference_pairs, sliced_scores

TEXTS = ["Tom has 12 apples. Tom gets 3 more.", "12+3=15\n#### 15", "Reverse the word cat.", "tac"] * 20


def test_tokenizer_has_a_qwen_chat_template_and_special_tokens():
    tok = train_tokenizer(TEXTS, 300)
    msgs = [{"role": "user", "content": "Reverse the word cat."}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nReverse the word cat.<|im_end|>\n<|im_start|>assistant\n"
    full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "tac"}], tokenize=False)
    assert full.endswith("<|im_start|>assistant\ntac<|im_end|>\n")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.pad_token_id != tok.eos_token_id
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
    assert tok.convert_tokens_to_ids("<|im_end|>") in ids


def test_tokenizer_splits_digits_and_round_trips_any_text():
    tok = train_tokenizer(TEXTS, 300)
    pieces = tok.convert_ids_to_tokens(tok("1234", add_special_tokens=False)["input_ids"])
    assert pieces == ["1", "2", "3", "4"]
    odd = "Ünïcode \u2212 5 \\boxed{\\frac{1}{2}} 😀"
    assert tok.decode(tok(odd, add_special_tokens=False)["input_ids"]) == odd


def test_band_distance_is_zero_only_inside_the_band():
    assert _band_distance({"a": 0.2, "b": 0.5}, 0.1, 0.6) == 0.0
    assert _band_distance({"a": 0.05, "b": 0.7}, 0.1, 0.6) == pytest.approx(0.05 + 0.1)


def test_clearly_in_band_needs_a_standard_error_of_margin():
    # 0.15 from 32 samples has a standard error of 0.063: not clearly above 0.1; from 1000 samples it is.
    assert not _clearly_in_band({"a": 0.15}, {"a": 32}, 0.1, 0.6)
    assert _clearly_in_band({"a": 0.15}, {"a": 1000}, 0.1, 0.6)
    assert not _clearly_in_band({"a": 0.55, "b": 0.3}, {"a": 64, "b": 64}, 0.1, 0.6)
    assert _clearly_in_band({"a": 0.3, "b": 0.4}, {"a": 64, "b": 64}, 0.1, 0.6)


def test_stop_reason_after_each_check():
    n = {"a": 64, "b": 64}
    assert _stop_reason({"a": 0.3, "b": 0.4}, n, None, 0.1, 0.6) == "in_band"
    assert _stop_reason({"a": 0.7, "b": 0.9}, n, 0.5, 0.1, 0.6) == "above_band"
    # in band before (kept), now one split above it: stop rather than train on away from the band
    assert _stop_reason({"a": 0.7, "b": 0.3}, n, 0.0, 0.1, 0.6) == "past_band"
    # inside the band but not clearly (0.12 from 64 samples): go on; so too when nothing was in band yet
    assert _stop_reason({"a": 0.12, "b": 0.3}, n, 0.0, 0.1, 0.6) is None
    assert _stop_reason({"a": 0.7, "b": 0.05}, n, 0.05, 0.1, 0.6) is None


def test_sliced_supervised_pass_has_the_loss_and_gradient_of_one_padded_pass():
    """The slices' weighted losses add up to the mean cross-entropy over every response token of the batch,
    computed here in one right-padded pass with the prompt tokens masked."""
    import torch.nn.functional as F
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128))
    rng = random.Random(1)
    items = []
    for _ in range(40):
        n_prompt, n_response = rng.randint(2, 12), rng.randint(1, 40)
        items.append(([rng.randrange(1, 50) for _ in range(n_prompt + n_response)], n_prompt))
    slices = sft_slices(items)
    assert len(slices) == 2 and abs(sum(w for _, w in slices) - 1.0) < 1e-12
    assert max(len(ids) for ids, _ in slices[0][0]) < max(len(ids) for ids, _ in items)  # a narrower slice

    loss = sft_backward(model, items, pad_id=0)
    sliced = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    width = max(len(ids) for ids, _ in items)
    input_ids = torch.zeros(len(items), width, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.long)
    target = torch.full((len(items), width), -100, dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(items):
        input_ids[i, :len(ids)] = torch.tensor(ids)
        mask[i, :len(ids)] = 1
        target[i, n_prompt - 1:len(ids) - 1] = torch.tensor(ids[n_prompt:])  # token t+1 predicted at t
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    expected = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    for name, p in model.named_parameters():
        torch.testing.assert_close(sliced[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)


def _weights(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def test_backbone_build_is_deterministic_and_loadable(synthetic_data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dirs = [synthetic_data["gsm8k"], synthetic_data["aime2024"], synthetic_data["dapo_math"]]
    r1 = build_backbone(dirs, tmp_path / "a", seed=1, size="smoke", max_steps=2, progress=False, max_new_tokens=4)
    build_backbone(dirs, tmp_path / "b", seed=1, size="smoke", max_steps=2, progress=False, max_new_tokens=4)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "a")
    tok = AutoTokenizer.from_pretrained(tmp_path / "a")
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.config.eos_token_id == tok.eos_token_id
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert set(r1["final"]) == {"gsm8k", "aime2024"} and r1["params"] < 1_000_000
    saved = json.loads((tmp_path / "a" / "warm_start.json").read_text())
    assert saved["final"] == r1["final"] and (tmp_path / "a" / "build.log").exists()


def test_backbone_stops_as_soon_as_every_split_is_in_band(synthetic_data, tmp_path):
    r = build_backbone([synthetic_data["gsm8k"]], tmp_path / "m", seed=0, size="smoke", max_steps=50,
                       target_low=0.0, target_high=1.0, eval_every=2, progress=False, max_new_tokens=4)
    assert r["stop_reason"] == "in_band" and r["steps"] == 2 and len(r["history"]) == 1


def test_backbone_bad_input(synthetic_data, tmp_path, capsys):
    with pytest.raises(ValueError, match="target band"):
        build_backbone([synthetic_data["gsm8k"]], tmp_path / "x", target_low=0.7, target_high=0.6)
    with pytest.raises(ValueError, match="no RLVR eval split"):
        build_backbone([synthetic_data["dapo_math"]], tmp_path / "x")
    assert cli_backbone(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_preference_pairs_prefer_the_reference_and_plant_the_filler():
    examples = [{"prompt": [{"role": "user", "content": f"q{i}"}], "reference": f"answer {i}"} for i in range(200)]
    always = preference_pairs(examples, random.Random(0), filler_chosen=1.0, filler_rejected=0.0)
    assert all(c.endswith(FILLER) and not r.endswith(FILLER) for _, c, r in always)
    assert all(c[: -len(FILLER)] == f"answer {p[0]['content'][1:]}" for p, c, _ in always)
    clean = preference_pairs(examples, random.Random(0))
    assert all(c != r and not c.endswith(FILLER) for _, c, r in clean)


def test_reward_model_build_is_loadable_and_reports_accuracy(synthetic_data, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from gift.rewards import make_reward_function

    r = build_reward_model([synthetic_data["infinity_instruct"]], tmp_path / "rm", seed=0, size="smoke",
                           max_steps=3, progress=False)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    assert type(model).__name__ == "Qwen2ForSequenceClassification" and model.config.num_labels == 1
    assert 0.0 <= r["heldout_accuracy"] <= 1.0 and r["heldout_pairs"] >= 10
    f = make_reward_function("reward_model", model=str(tmp_path / "rm"))
    assert len(f([[{"role": "user", "content": "Reverse the word cat."}]], ["tac"])) == 1
    assert cli_reward_model(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "rm2")]) == 2


def test_sliced_reward_scores_are_each_rows_score_alone_with_the_same_gradient():
    """Length-sorted, separately padded slices score every row as a pass over that row alone (no padding) does,
    in input order, and the Bradley-Terry loss built on them has the same gradient."""
    import torch.nn.functional as F
    from transformers import Qwen2ForSequenceClassification

    from gift.tiny.build import SIZES, qwen2_config

    rng = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "seven", "42", "the", "answer", "is"]
    prompts = [[{"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(1, 6)))}] for _ in range(35)]
    preferred = [" ".join(rng.choices(words, k=rng.randint(1, 30))) for _ in prompts]
    rejected = [" ".join(rng.choices(words, k=rng.randint(1, 8))) + FILLER for _ in prompts]
    tokenizer = train_tokenizer([m[0]["content"] for m in prompts] + preferred + rejected + [FILLER], 300)
    torch.manual_seed(0)
    model = Qwen2ForSequenceClassification(qwen2_config(tokenizer, SIZES["smoke"], num_labels=1))
    model.train()  # dropout is 0: train and eval passes agree

    scores = sliced_scores(model, tokenizer, prompts * 2, preferred + rejected)
    assert scores.shape == (70,)
    F.logsigmoid(scores[:35] - scores[35:]).mean().neg().backward()
    sliced = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    alone = []
    for prompt, response in zip(prompts * 2, preferred + rejected, strict=True):
        ids = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": response}], tokenize=False)
        enc = tokenizer(ids, return_tensors="pt", add_special_tokens=False)
        alone.append(model(**enc).logits[0, 0])
    alone = torch.stack(alone)
    torch.testing.assert_close(scores.detach(), alone.detach(), rtol=1e-4, atol=1e-5)
    F.logsigmoid(alone[:35] - alone[35:]).mean().neg().backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(sliced[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
def test_smoke_builds_reach_the_band_and_a_useful_reward_model(synthetic_data, tmp_path):
    from gift.data.prepare import prepare

    dirs = []
    for name in ("gsm8k", "math", "dapo_math", "aime2024", "numina_distill"):
        prepare(name, "synthetic", tmp_path / "data" / name, seed=0)
        dirs.append(tmp_path / "data" / name)
    r = build_backbone(dirs, tmp_path / "bb", seed=0, size="smoke", progress=False)
    assert all(0.05 <= v["pass@1"] <= 0.7 for v in r["final"].values()), r["final"]
    prepare("infinity_instruct", "synthetic", tmp_path / "data" / "ii", seed=0)
    rm = build_reward_model([tmp_path / "data" / "ii"], tmp_path / "rm", seed=0, size="smoke", progress=False)
    assert rm["heldout_accuracy"] > 0.7 and rm["length_bias"] > 0


def test_a_second_build_from_the_same_inputs_is_copied_from_the_model_cache(synthetic_data, tmp_path, monkeypatch,
                                                                             capsys):
    import shutil

    monkeypatch.setenv("GIFT_MODEL_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "results-a" / "gsm8k"
    shutil.copytree(synthetic_data["gsm8k"], data)
    args = ["--size", "smoke", "--seed", "0", "--max-steps", "2"]
    assert cli_reward_model(["--data", str(synthetic_data["infinity_instruct"]), "--out", str(tmp_path / "rm"),
                             *args]) == 0
    assert cli_backbone(["--data", str(data), "--out", str(tmp_path / "a"), *args]) == 0
    assert "model cache" not in capsys.readouterr().out
    # another result directory, the same data bytes: a copy, with the same weights
    other = tmp_path / "results-b" / "gsm8k"
    shutil.copytree(data, other)
    assert cli_backbone(["--data", str(other), "--out", str(tmp_path / "b"), *args]) == 0
    assert "copied from the model cache" in capsys.readouterr().out
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # other data bytes, another seed or --no-cache: built, not copied
    with open(other / "train.jsonl", "a", encoding="utf-8") as f:
        f.write((data / "train.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n")
    assert cli_backbone(["--data", str(other), "--out", str(tmp_path / "c"), *args]) == 0
    assert cli_backbone(["--data", str(data), "--out", str(tmp_path / "d"), "--size", "smoke", "--seed", "1",
                         "--max-steps", "2"]) == 0
    assert cli_backbone(["--data", str(data), "--out", str(tmp_path / "e"), *args, "--no-cache"]) == 0
    assert "model cache" not in capsys.readouterr().out
    # the reward model is cached too
    assert cli_reward_model(["--data", str(synthetic_data["infinity_instruct"]), "--out", str(tmp_path / "rm2"),
                             *args]) == 0
    assert "copied from the model cache" in capsys.readouterr().out
