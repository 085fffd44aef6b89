"""Tiny models built by code: the sizes, the data, a BPE tokenizer with a Qwen chat template, the Qwen2 config.

These pieces serve the warm-started policy (`gift.tiny.backbone`) and the reward model (`gift.tiny.reward_model`).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gift.cli import HelpFormatter
from gift.files import read_jsonl

# Qwen's chat format, shared by every tiny tokenizer (gift.tiny.char_policy too).
PAD_TOKEN, START_TOKEN, EOS_TOKEN = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, START_TOKEN, EOS_TOKEN)
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class Size:
    """Architecture and training budget of one size."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_steps: int
    batch_size: int
    lr: float
    eval_every: int
    eval_n: int
    eval_k: int
    final_n: int | None
    """Problems per eval split in the final measurement (None: all)."""
    rm_steps: int


SIZES: dict[str, Size] = {
    "smoke": Size(vocab_size=1024, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_steps=900, batch_size=32, lr=3e-3, eval_every=100, eval_n=32, eval_k=2,
                  final_n=64, rm_steps=150),
    # sized so that a backbone builds in a few minutes on one core (the tiny config builds three). A pass@1
    # check every 100 steps: the twins' pass@1 climbs fast between 200 and 600 steps, and with checks 200
    # apart tiny-a's build ran to step 600 to keep step 400 (58% on the GSM8K twin); with checks 100 apart
    # it stops in the band at step 300 (20% on the GSM8K twin, 21% on the MATH twin).
    "tiny": Size(vocab_size=1024, hidden_size=96, intermediate_size=288, num_hidden_layers=3, num_attention_heads=4,
                 num_key_value_heads=2, max_steps=1200, batch_size=64, lr=3e-3, eval_every=100, eval_n=48, eval_k=4,
                 final_n=128, rm_steps=400),
}
MAX_LEN = 320


def size_named(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown size {name!r}; choose one of {', '.join(SIZES)}") from None


# ---- data -------------------------------------------------------------------------------------------

def response_of(ex: dict) -> str | None:
    return ex.get("reference") or ex.get("expert")


def load_data_dirs(dirs: list[str | Path]) -> tuple[list[dict], dict[str, list[dict]]]:
    """(train examples of every dir, eval examples per dataset with an RLVR eval split).

    A dir is a `gift data prepare` output; its `summary.json` names the eval split (else `test.jsonl`).
    """
    train, evals = [], {}
    for d in map(Path, dirs):
        if not d.is_dir():
            raise ValueError(f"--data {d}: not a directory (expected a `gift data prepare` output)")
        summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else {}
        eval_split = summary.get("eval_split") or ("test" if (d / "test.jsonl").exists() else None)
        files = sorted(d.glob("*.jsonl"))
        if not files:
            raise ValueError(f"--data {d}: no <split>.jsonl files")
        for f in files:
            rows = read_jsonl(f)
            for i, ex in enumerate(rows):
                if "prompt" not in ex:
                    raise ValueError(f"{f}: example {i} has no 'prompt'")
            if f.stem == eval_split:
                name = summary.get("dataset") or (rows[0].get("dataset") if rows else d.name)
                evals[name] = rows
            else:
                train += rows
    return train, evals


def corpus_texts(examples: list[dict]) -> list[str]:
    """Every prompt and response text, for tokenizer training."""
    texts = []
    for ex in examples:
        texts += [m["content"] for m in ex["prompt"]]
        for key in ("reference", "expert"):
            if ex.get(key):
                texts.append(ex[key])
        texts += ex.get("teachers") or []
    return texts


# ---- tokenizer and model ---------------------------------------------------------------------------

def train_tokenizer(texts: list[str], vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer (digits split one by one) with Qwen's chat special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # The role names follow the special tokens in every chat; give them their own tokens.
    tok.train_from_iterator(texts + ["system user assistant"] * 50, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                                   additional_special_tokens=[START_TOKEN], model_max_length=MAX_LEN * 4,
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def qwen2_config(tokenizer: Any, size: Size, **extra: Any) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=len(tokenizer), hidden_size=size.hidden_size,
                       intermediate_size=size.intermediate_size, num_hidden_layers=size.num_hidden_layers,
                       num_attention_heads=size.num_attention_heads, num_key_value_heads=size.num_key_value_heads,
                       max_position_embeddings=MAX_LEN * 4, rope_theta=10000.0, tie_word_embeddings=True,
                       bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, **extra)


def encode_sft(tokenizer: Any, examples: list[dict]) -> list[tuple[list[int], int]]:
    """(token ids of prompt + response + eos, number of prompt tokens) per example with a response."""
    out = []
    for ex in examples:
        response = response_of(ex)
        if not response:
            continue
        prompt_text = tokenizer.apply_chat_template(ex["prompt"], tokenize=False, add_generation_prompt=True)
        p = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(p) + len(r) <= MAX_LEN:
            out.append((p + r, len(p)))
    return out


def sft_batch(items: list[tuple[list[int], int]], pad_id: int) -> dict:
    import torch

    width = max(len(ids) for ids, _ in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(items):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        attention[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def next_batch(order: list[int], n: int, batch_size: int, rng: random.Random) -> list[int]:
    """The next `batch_size` indices of a stream of shuffled passes over `n` items (`order` is the stream)."""
    if len(order) < batch_size:
        perm = list(range(n))
        rng.shuffle(perm)
        order += perm
    batch = order[:batch_size]
    del order[:batch_size]
    return batch


def close_log(log: Any) -> None:
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()


# ---- commands ---------------------------------------------------------------------------------------

def cached_build(kind: str, data: list[str], out: str, settings: dict, use_cache: bool, build,
                  report_name: str) -> tuple[dict, str]:
    """Copy the build from the model cache when it holds it, else build and store it; (report, note)."""
    from gift.tiny import model_cache as modelcache

    for d in data:
        if not Path(d).is_dir():
            raise ValueError(f"--data {d}: not a directory (expected a `gift data prepare` output)")
    key = modelcache.build_key(kind, data, settings) if use_cache else None
    if key and modelcache.fetch(key, out):
        report = json.loads((Path(out) / report_name).read_text(encoding="utf-8"))
        return report, f" (copied from the model cache, key {key})"
    report = build()
    if key:
        modelcache.store(key, out)
    return report, ""


def build_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every `gift build tiny-*` command takes: data, output, seed, size, step budget, cache."""
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog=prog, description=description)
    parser.add_argument("--data", nargs="+", required=True, help="prepared dataset directories")
    parser.add_argument("--out", required=True, help="the model directory to write (from_pretrained layout)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the data order")
    parser.add_argument("--size", default="smoke", choices=sorted(SIZES), help="model and training budget")
    parser.add_argument("--max-steps", type=int, help="training steps of the build (default: the size's)")
    parser.add_argument("--no-cache", action="store_true",
                        help="build even if the model cache (GIFT_MODEL_CACHE, see gift.tiny.model_cache) holds this build")
    return parser
