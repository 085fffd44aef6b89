"""A tiny reward model built by code: a Qwen2ForSequenceClassification trained with the Bradley-Terry loss.

The preference pairs prefer the reference response over a wrong answer, a scrambled one or another
prompt's response (not following the instruction), with a small planted length bias (a filler sentence
more often on the preferred side), as real reward models have one that RLHF can exploit.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from gift.files import atomic_path, file_logger, write_json
from gift.tiny.build import (
    MAX_LEN,
    Size,
    build_parser,
    cached_build,
    close_log,
    corpus_texts,
    load_data_dirs,
    next_batch,
    qwen2_config,
    response_of,
    size_named,
    train_tokenizer,
)

FILLER = " I hope this helps!"


def _wrong_answer(response: str, rng: random.Random) -> str | None:
    """`response` with its last number changed (a wrong final answer), or None if it has no number."""
    import re

    numbers = list(re.finditer(r"-?\d+", response))
    if not numbers:
        return None
    m = numbers[-1]
    wrong = int(m.group(0)) + rng.choice((-3, -2, -1, 1, 2, 3, 10))
    return response[: m.start()] + str(wrong) + response[m.end():]


def _scramble(response: str, rng: random.Random) -> str:
    chars = list(response)
    for _ in range(10):
        rng.shuffle(chars)
        if "".join(chars) != response:
            break
    return "".join(chars)


def preference_pairs(examples: list[dict], rng: random.Random, filler_chosen: float = 0.0,
                     filler_rejected: float = 0.0) -> list[tuple[list[dict], str, str]]:
    """(prompt, preferred, rejected) pairs: preferred is the reference / expert response, rejected a wrong
    answer, a scrambled one, or another prompt's response (not following the instruction).

    The filler sentence is appended to the preferred side with probability `filler_chosen` and to the
    rejected side with `filler_rejected`: a planted, exploitable length bias when the first is larger.
    """
    with_response = [ex for ex in examples if response_of(ex)]
    pairs = []
    for ex in with_response:
        chosen = response_of(ex)
        choice = rng.random()
        rejected = None
        if choice < 0.4:
            rejected = _wrong_answer(chosen, rng)
        if rejected is None and choice < 0.7:
            other = rng.choice(with_response)
            if response_of(other) != chosen:
                rejected = response_of(other)
        if rejected is None or rejected == chosen:
            rejected = _scramble(chosen, rng)
        if rejected == chosen:
            continue
        if rng.random() < filler_chosen:
            chosen += FILLER
        if rng.random() < filler_rejected:
            rejected += FILLER
        pairs.append((ex["prompt"], chosen, rejected))
    return pairs


def build_reward_model(data_dirs: list[str | Path], out: str | Path, seed: int = 0, size: str = "smoke",
                       max_steps: int | None = None, heldout_frac: float = 0.15, filler_chosen: float = 0.3,
                       filler_rejected: float = 0.1, progress: bool = True) -> dict:
    """Train and save a tiny Bradley-Terry reward model; returns the report also saved as `reward_model.json`.

    The report has the held-out preference accuracy (pairs without filler) and the learned length bias:
    the mean score gain from appending the filler sentence to held-out preferred responses.
    """
    import torch
    from transformers import Qwen2ForSequenceClassification

    from gift.rewards import RewardModelScorer

    sz = size_named(size)
    steps = max_steps if max_steps is not None else sz.rm_steps
    t0 = time.time()
    rng = random.Random(seed)
    examples, train_pairs, held_pairs = _preference_data(data_dirs, rng, heldout_frac, filler_chosen, filler_rejected)
    tokenizer = train_tokenizer(corpus_texts(examples) + [FILLER], sz.vocab_size)
    torch.manual_seed(seed)
    model = Qwen2ForSequenceClassification(qwen2_config(tokenizer, sz, num_labels=1))
    n_params = sum(p.numel() for p in model.parameters())
    scorer = RewardModelScorer(model, tokenizer, batch_size=64, length_normalize=False, max_length=MAX_LEN,
                               device="cpu")
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        log = file_logger(f"gift.tiny.build.rm.{id(tmp)}", tmp / "build.log")
        log.info("size=%s params=%d train_pairs=%d heldout_pairs=%d", size, n_params, len(train_pairs),
                 len(held_pairs))
        _train_bradley_terry(model, tokenizer, train_pairs, sz, steps, rng, log, desc=f"reward model {size}",
                             progress=progress)
        measured = _measure_reward_model(scorer, train_pairs, held_pairs)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        report = {"kind": "tiny-reward-model", "size": size, "seed": seed, "params": n_params, "steps": steps,
                  "train_pairs": len(train_pairs), "heldout_pairs": len(held_pairs), **measured,
                  "filler": FILLER, "filler_rates": [filler_chosen, filler_rejected],
                  "data": [str(d) for d in data_dirs], "config": asdict(sz), "build_s": round(time.time() - t0, 1)}
        write_json(tmp / "reward_model.json", report)
        log.info("done: heldout_accuracy %.3f length_bias %.3f", measured["heldout_accuracy"],
                 measured["length_bias"])
        close_log(log)
    return report


def _preference_data(data_dirs: list[str | Path], rng: random.Random, heldout_frac: float, filler_chosen: float,
                     filler_rejected: float) -> tuple[list[dict], list, list]:
    """(examples with a response, training pairs with the planted filler bias, held-out pairs without it)."""
    train, evals = load_data_dirs(data_dirs)
    examples = [ex for ex in train + [e for v in evals.values() for e in v] if response_of(ex)]
    if len(examples) < 20:
        raise ValueError(f"only {len(examples)} examples with a reference response in --data; need at least 20")
    rng.shuffle(examples)
    n_held = max(10, int(len(examples) * heldout_frac))
    held, fit = examples[:n_held], examples[n_held:]
    return examples, preference_pairs(fit, rng, filler_chosen, filler_rejected), preference_pairs(held, rng)


def _train_bradley_terry(model: Any, tokenizer: Any, pairs: list, sz: Size, steps: int, rng: random.Random,
                         log: Any, desc: str, progress: bool) -> None:
    """Minimise -log sigmoid(score(preferred) - score(rejected)) over shuffled passes of `pairs`."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.AdamW(model.parameters(), lr=sz.lr, betas=(0.9, 0.98), weight_decay=0.01)
    order: list[int] = []
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress)
    for step in bar:
        model.train()
        items = [pairs[i] for i in next_batch(order, len(pairs), sz.batch_size, rng)]
        scores = sliced_scores(model, tokenizer, [p for p, _, _ in items] * 2,
                               [a for _, a, _ in items] + [b for _, _, b in items])
        loss = -F.logsigmoid(scores[: len(items)] - scores[len(items):]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 50 == 0:
            log.info("step %d loss %.4f", step, loss.item())
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()


def sliced_scores(model: Any, tokenizer: Any, prompts: list, responses: list[str], rows_per_slice: int = 32,
                  max_slices: int = 3) -> Any:
    """The reward model's score of each (prompt, response), in input order, with gradients.

    The rows run as up to `max_slices` length-sorted slices (at least `rows_per_slice` rows each), each padded
    only to its own longest sequence: the scores of one padded pass with less compute (a preferred and a
    rejected response differ in length by the planted filler sentence, so a batch pads a lot).
    """
    import torch

    texts = _chat_texts(tokenizer, prompts, responses)
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    n = max(1, min(max_slices, len(order) // rows_per_slice))
    parts = [order[k * len(order) // n:(k + 1) * len(order) // n] for k in range(n)]
    scores = torch.cat([model(**_pad(tokenizer, [texts[i] for i in part])).logits[:, 0] for part in parts])
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return scores[inverse]


def _chat_texts(tokenizer: Any, prompts: list, responses: list[str]) -> list[str]:
    return [tokenizer.apply_chat_template(p + [{"role": "assistant", "content": r}], tokenize=False)
            for p, r in zip(prompts, responses, strict=True)]


def _pad(tokenizer: Any, texts: list[str]) -> dict:
    tokenizer.padding_side = "right"
    return tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_LEN,
                     add_special_tokens=False)


def _measure_reward_model(scorer: Any, train_pairs: list, held_pairs: list) -> dict:
    """Preference accuracy (held out, and on as many training pairs) and the mean score gain from the filler."""

    def accuracy(pairs: list) -> float:
        scorer.model.eval()
        c = scorer.raw_scores([p for p, _, _ in pairs], [a for _, a, _ in pairs])
        r = scorer.raw_scores([p for p, _, _ in pairs], [b for _, _, b in pairs])
        return sum(x > y for x, y in zip(c, r, strict=True)) / len(pairs)

    held_acc = accuracy(held_pairs)
    train_acc = accuracy(train_pairs[: len(held_pairs)])
    base = scorer.raw_scores([p for p, _, _ in held_pairs], [a for _, a, _ in held_pairs])
    padded = scorer.raw_scores([p for p, _, _ in held_pairs], [a + FILLER for _, a, _ in held_pairs])
    length_bias = sum(y - x for x, y in zip(base, padded, strict=True)) / len(base)
    return {"heldout_accuracy": held_acc, "train_accuracy": train_acc, "length_bias": length_bias}


def cli_reward_model(argv: list[str]) -> int:
    """Entry point of `gift build tiny-reward-model`."""
    args = build_parser("gift build tiny-reward-model", build_reward_model.__doc__).parse_args(argv)
    settings = {"size": args.size, "seed": args.seed, "max_steps": args.max_steps}
    try:
        r, cached = cached_build("tiny-reward-model", args.data, args.out, settings, not args.no_cache,
                                  lambda: build_reward_model(args.data, args.out, args.seed, args.size,
                                                             args.max_steps), "reward_model.json")
    except (ValueError, OSError) as err:
        print(f"gift build tiny-reward-model: error: {err}", file=sys.stderr)
        return 2
    print(f"tiny reward model ({args.size}, {r['params']:,} params) -> {args.out}  [{r['build_s']}s]{cached}")
    print(f"  held-out preference accuracy {100 * r['heldout_accuracy']:.1f}% on {r['heldout_pairs']} pairs; "
          f"length bias (score gain from filler) {r['length_bias']:+.3f}")
    return 0
