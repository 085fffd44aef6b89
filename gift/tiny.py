"""Tiny models built by code: a BPE tokenizer with a Qwen chat template, a warm-started Qwen2 policy, a reward model.

The backbone is supervised on the synthetic solutions until its pass@1 on every synthetic RLVR eval
split lies in a target band (10%-60% by default), so that RL has room to move either way. The reward
model is a Qwen2ForSequenceClassification trained with the Bradley-Terry loss on pairs whose preferred
side is correct / follows the instruction, with a small planted length bias (a filler sentence more
often on the preferred side), as real reward models have one that RLHF can exploit.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from gift.io import atomic_path, file_logger, read_jsonl, write_json

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
FILLER = " I hope this helps!"


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
    # sized so that a backbone builds in about five minutes on one core (the tiny config builds three)
    "tiny": Size(vocab_size=1024, hidden_size=96, intermediate_size=288, num_hidden_layers=3, num_attention_heads=4,
                 num_key_value_heads=2, max_steps=1200, batch_size=64, lr=3e-3, eval_every=200, eval_n=48, eval_k=4,
                 final_n=128, rm_steps=400),
}
MAX_LEN = 320


def _size(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown size {name!r}; choose one of {', '.join(SIZES)}") from None


# ---- data -------------------------------------------------------------------------------------------

def _response_of(ex: dict) -> str | None:
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


# ---- tokenizer --------------------------------------------------------------------------------------

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
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"], model_max_length=MAX_LEN * 4,
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _config(tokenizer: Any, size: Size, **extra: Any) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=len(tokenizer), hidden_size=size.hidden_size,
                       intermediate_size=size.intermediate_size, num_hidden_layers=size.num_hidden_layers,
                       num_attention_heads=size.num_attention_heads, num_key_value_heads=size.num_key_value_heads,
                       max_position_embeddings=MAX_LEN * 4, rope_theta=10000.0, tie_word_embeddings=True,
                       bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, **extra)


def _encode_sft(tokenizer: Any, examples: list[dict]) -> list[tuple[list[int], int]]:
    """(token ids of prompt + response + eos, number of prompt tokens) per example with a response."""
    out = []
    for ex in examples:
        response = _response_of(ex)
        if not response:
            continue
        prompt_text = tokenizer.apply_chat_template(ex["prompt"], tokenize=False, add_generation_prompt=True)
        p = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(p) + len(r) <= MAX_LEN:
            out.append((p + r, len(p)))
    return out


def _sft_batch(items: list[tuple[list[int], int]], pad_id: int) -> dict:
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


def _band_distance(scores: dict[str, float], low: float, high: float) -> float:
    return sum(max(0.0, low - p) + max(0.0, p - high) for p in scores.values())


def _clearly_in_band(scores: dict[str, float], samples: dict[str, int], low: float, high: float) -> bool:
    """Every split's interim pass@1 lies inside the band by at least one binomial standard error.

    The interim checks use few problems; stopping on a bare in-band estimate often keeps a checkpoint whose
    pass@1 on the full split is outside the band.
    """
    for name, p in scores.items():
        se = math.sqrt(p * (1.0 - p) / max(1, samples[name]))
        if not low + se <= p <= high - se:
            return False
    return True


def _stop_reason(scores: dict[str, float], samples: dict[str, int], best_before: float | None, low: float,
                 high: float) -> str | None:
    """Why the warm start stops after this check, or None to go on.

    in_band: every split clearly in the band; above_band: every split above it; past_band: an earlier
    checkpoint was in the band (it is kept) and this one is not, so training has moved past it.
    """
    if _clearly_in_band(scores, samples, low, high):
        return "in_band"
    if all(p > high for p in scores.values()):
        return "above_band"
    if best_before == 0.0 and _band_distance(scores, low, high) > 0.0:
        return "past_band"
    return None


# ---- backbone ---------------------------------------------------------------------------------------

def build_backbone(data_dirs: list[str | Path], out: str | Path, seed: int = 0, size: str = "smoke",
                   max_steps: int | None = None, target_low: float = 0.1, target_high: float = 0.6,
                   progress: bool = True, eval_every: int | None = None,
                   max_new_tokens: int | None = None) -> dict:
    """Build, warm-start and save a tiny Qwen2 policy; returns the report also saved as `warm_start.json`.

    Supervised training on the responses of the train splits, with pass@1 (mean over `eval_k` samples at
    temperature 1) measured every `eval_every` steps on up to `eval_n` problems of every RLVR eval split.
    Training stops as soon as every split lies in [target_low, target_high] by at least one standard error of
    its interim estimate, or when it moves out of the band after a check inside it; otherwise the checkpoint
    closest to the band is kept. The final pass@1 (k=4, and greedy) is measured on the full eval splits.
    """
    import copy

    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    from gift.evals.rlvr import evaluate_pass_at_1

    if not 0.0 <= target_low < target_high <= 1.0:
        raise ValueError(f"target band [{target_low}, {target_high}] is not a sub-interval of [0, 1]")
    sz = _size(size)
    steps = max_steps if max_steps is not None else sz.max_steps
    eval_every = eval_every or sz.eval_every
    t0 = time.time()
    train, evals = load_data_dirs(data_dirs)
    if not evals:
        raise ValueError("no RLVR eval split among --data dirs (need e.g. a prepared gsm8k, math or aime2024)")
    tokenizer = train_tokenizer(corpus_texts(train + [e for v in evals.values() for e in v]), sz.vocab_size)
    encoded = _encode_sft(tokenizer, train)
    if not encoded:
        raise ValueError("no train example with a response (reference or expert) to warm-start on")
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(_config(tokenizer, sz))
    n_params = sum(p.numel() for p in model.parameters())
    longest = max(len(ids) - n for ids, n in encoded)
    # Room for the longest reference response and half again: enough for the task, cheap to sample.
    max_new_tokens = max_new_tokens or min(256, int(longest * 1.5) + 8)
    rng = random.Random(seed)
    eval_subsets = {name: rng.sample(rows, min(sz.eval_n, len(rows))) for name, rows in sorted(evals.items())}
    opt = torch.optim.AdamW(model.parameters(), lr=sz.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    order: list[int] = []
    history, best = [], None
    stop_reason = "max_steps"
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        log = file_logger(f"gift.tiny.backbone.{id(tmp)}", tmp / "build.log")
        log.info("size=%s params=%d train_examples=%d eval=%s", size, n_params, len(encoded),
                 {k: len(v) for k, v in evals.items()})
        bar = tqdm(range(1, steps + 1), desc=f"warm-start {size}", disable=not progress)
        for step in bar:
            model.train()
            if len(order) < sz.batch_size:
                perm = list(range(len(encoded)))
                rng.shuffle(perm)
                order += perm
            batch = _sft_batch([encoded[i] for i in order[: sz.batch_size]], tokenizer.pad_token_id)
            del order[: sz.batch_size]
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if step % eval_every and step != steps:
                continue
            scores = {name: evaluate_pass_at_1(model, tokenizer, rows, k=sz.eval_k, max_new_tokens=max_new_tokens,
                                               greedy=False, batch_size=64, seed=seed, progress=False)["pass@1"]
                      for name, rows in eval_subsets.items()}
            dist = _band_distance(scores, target_low, target_high)
            history.append({"step": step, "loss": round(loss.item(), 4), "pass@1": scores, "band_distance": dist})
            log.info("step %d loss %.4f pass@1 %s", step, loss.item(), scores)
            bar.set_postfix(loss=f"{loss.item():.3f}", **{k[:6]: f"{v:.2f}" for k, v in scores.items()})
            best_before = None if best is None else best[0]
            if best is None or dist < best[0]:
                best = (dist, step, copy.deepcopy(model.state_dict()))
            reason = _stop_reason(scores, {n: len(r) * sz.eval_k for n, r in eval_subsets.items()}, best_before,
                                  target_low, target_high)
            if reason:
                stop_reason = reason
                break
        bar.close()
        model.load_state_dict(best[2])
        final = {}
        for name, rows in sorted(evals.items()):
            rows = rows[: sz.final_n] if sz.final_n else rows
            res = evaluate_pass_at_1(model, tokenizer, rows, k=4, max_new_tokens=max_new_tokens, greedy=True,
                                     batch_size=64, seed=seed, progress=False)
            final[name] = {"pass@1": res["pass@1"], "pass@1_stderr": res["pass@1_stderr"],
                           "pass@1_greedy": res["pass@1_greedy"], "n": res["n"], "unparsed": res["unparsed"]}
        model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                                   pad_token_id=tokenizer.pad_token_id, do_sample=True,
                                                   temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        in_band = all(target_low <= v["pass@1"] <= target_high for v in final.values())
        report = {"kind": "tiny-backbone", "size": size, "seed": seed, "params": n_params, "steps": best[1],
                  "stop_reason": stop_reason, "target_band": [target_low, target_high], "final_in_band": in_band,
                  "final": final, "history": history, "max_new_tokens": max_new_tokens,
                  "data": [str(d) for d in data_dirs], "config": asdict(sz), "build_s": round(time.time() - t0, 1)}
        write_json(tmp / "warm_start.json", report)
        log.info("done: %s", json.dumps({k: report[k] for k in ("steps", "stop_reason", "final", "build_s")}))
        for h in list(log.handlers):
            log.removeHandler(h)
            h.close()
    return report


# ---- reward model -----------------------------------------------------------------------------------

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
    with_response = [ex for ex in examples if _response_of(ex)]
    pairs = []
    for ex in with_response:
        chosen = _response_of(ex)
        choice = rng.random()
        rejected = None
        if choice < 0.4:
            rejected = _wrong_answer(chosen, rng)
        if rejected is None and choice < 0.7:
            other = rng.choice(with_response)
            if _response_of(other) != chosen:
                rejected = _response_of(other)
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
    import torch.nn.functional as F
    from transformers import Qwen2ForSequenceClassification

    from gift.rewards import RewardModelScorer

    sz = _size(size)
    steps = max_steps if max_steps is not None else sz.rm_steps
    t0 = time.time()
    train, evals = load_data_dirs(data_dirs)
    examples = train + [e for v in evals.values() for e in v]
    rng = random.Random(seed)
    examples = [ex for ex in examples if _response_of(ex)]
    if len(examples) < 20:
        raise ValueError(f"only {len(examples)} examples with a reference response in --data; need at least 20")
    rng.shuffle(examples)
    n_held = max(10, int(len(examples) * heldout_frac))
    held, fit = examples[:n_held], examples[n_held:]
    train_pairs = preference_pairs(fit, rng, filler_chosen, filler_rejected)
    held_pairs = preference_pairs(held, rng)
    tokenizer = train_tokenizer(corpus_texts(examples) + [FILLER], sz.vocab_size)
    torch.manual_seed(seed)
    model = Qwen2ForSequenceClassification(_config(tokenizer, sz, num_labels=1))
    n_params = sum(p.numel() for p in model.parameters())
    scorer = RewardModelScorer(model, tokenizer, batch_size=64, length_normalize=False, max_length=MAX_LEN,
                               device="cpu")

    def encode(prompts: list, responses: list[str]) -> dict:
        texts = [tokenizer.apply_chat_template(p + [{"role": "assistant", "content": r}], tokenize=False)
                 for p, r in zip(prompts, responses, strict=True)]
        tokenizer.padding_side = "right"
        return tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_LEN,
                         add_special_tokens=False)

    def accuracy(pairs: list) -> float:
        model.eval()
        c = scorer.raw_scores([p for p, _, _ in pairs], [a for _, a, _ in pairs])
        r = scorer.raw_scores([p for p, _, _ in pairs], [b for _, _, b in pairs])
        return sum(x > y for x, y in zip(c, r, strict=True)) / len(pairs)

    opt = torch.optim.AdamW(model.parameters(), lr=sz.lr, betas=(0.9, 0.98), weight_decay=0.01)
    batch = sz.batch_size
    order: list[int] = []
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        log = file_logger(f"gift.tiny.rm.{id(tmp)}", tmp / "build.log")
        log.info("size=%s params=%d train_pairs=%d heldout_pairs=%d", size, n_params, len(train_pairs),
                 len(held_pairs))
        bar = tqdm(range(1, steps + 1), desc=f"reward model {size}", disable=not progress)
        for step in bar:
            model.train()
            if len(order) < batch:
                perm = list(range(len(train_pairs)))
                rng.shuffle(perm)
                order += perm
            items = [train_pairs[i] for i in order[:batch]]
            del order[:batch]
            enc = encode([p for p, _, _ in items] * 2, [a for _, a, _ in items] + [b for _, _, b in items])
            scores = model(**enc).logits[:, 0]
            loss = -F.logsigmoid(scores[: len(items)] - scores[len(items):]).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if step % 50 == 0:
                log.info("step %d loss %.4f", step, loss.item())
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        held_acc = accuracy(held_pairs)
        train_acc = accuracy(train_pairs[: len(held_pairs)])
        base = scorer.raw_scores([p for p, _, _ in held_pairs], [a for _, a, _ in held_pairs])
        padded = scorer.raw_scores([p for p, _, _ in held_pairs], [a + FILLER for _, a, _ in held_pairs])
        length_bias = sum(y - x for x, y in zip(base, padded, strict=True)) / len(base)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        report = {"kind": "tiny-reward-model", "size": size, "seed": seed, "params": n_params, "steps": steps,
                  "train_pairs": len(train_pairs), "heldout_pairs": len(held_pairs),
                  "heldout_accuracy": held_acc, "train_accuracy": train_acc, "length_bias": length_bias,
                  "filler": FILLER, "filler_rates": [filler_chosen, filler_rejected],
                  "data": [str(d) for d in data_dirs], "config": asdict(sz), "build_s": round(time.time() - t0, 1)}
        write_json(tmp / "reward_model.json", report)
        log.info("done: heldout_accuracy %.3f length_bias %.3f", held_acc, length_bias)
        for h in list(log.handlers):
            log.removeHandler(h)
            h.close()
    return report


# ---- commands ---------------------------------------------------------------------------------------

def _cached_build(kind: str, data: list[str], out: str, settings: dict, use_cache: bool, build,
                  report_name: str) -> tuple[dict, str]:
    """Copy the build from the model cache when it holds it, else build and store it; (report, note)."""
    from gift import modelcache

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


def cli_backbone(argv: list[str]) -> int:
    """Entry point of `gift build tiny-backbone`."""
    parser = argparse.ArgumentParser(prog="gift build tiny-backbone", description=build_backbone.__doc__)
    parser.add_argument("--data", nargs="+", required=True, help="prepared dataset directories")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="smoke", choices=sorted(SIZES))
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--target-low", type=float, default=0.1)
    parser.add_argument("--target-high", type=float, default=0.6)
    parser.add_argument("--no-cache", action="store_true",
                        help="build even if the model cache (GIFT_MODEL_CACHE, see gift.modelcache) holds this build")
    args = parser.parse_args(argv)
    settings = {"size": args.size, "seed": args.seed, "max_steps": args.max_steps, "target_low": args.target_low,
                "target_high": args.target_high}
    try:
        r, cached = _cached_build("tiny-backbone", args.data, args.out, settings, not args.no_cache,
                                  lambda: build_backbone(args.data, args.out, args.seed, args.size, args.max_steps,
                                                         args.target_low, args.target_high), "warm_start.json")
    except (ValueError, OSError) as err:
        print(f"gift build tiny-backbone: error: {err}", file=sys.stderr)
        return 2
    print(f"tiny backbone ({args.size}, {r['params']:,} params) -> {args.out}  [{r['build_s']}s, "
          f"{r['steps']} steps, {r['stop_reason']}]{cached}")
    for name, v in r["final"].items():
        print(f"  {name:<10} pass@1 {100 * v['pass@1']:5.1f}% (k=4, n={v['n']}), greedy {100 * v['pass@1_greedy']:5.1f}%")
    if not r["final_in_band"]:
        print(f"  warning: not every split is in the target band {r['target_band']}", file=sys.stderr)
    return 0


def cli_reward_model(argv: list[str]) -> int:
    """Entry point of `gift build tiny-reward-model`."""
    parser = argparse.ArgumentParser(prog="gift build tiny-reward-model", description=build_reward_model.__doc__)
    parser.add_argument("--data", nargs="+", required=True, help="prepared dataset directories")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="smoke", choices=sorted(SIZES))
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--no-cache", action="store_true",
                        help="build even if the model cache (GIFT_MODEL_CACHE, see gift.modelcache) holds this build")
    args = parser.parse_args(argv)
    settings = {"size": args.size, "seed": args.seed, "max_steps": args.max_steps}
    try:
        r, cached = _cached_build("tiny-reward-model", args.data, args.out, settings, not args.no_cache,
                                  lambda: build_reward_model(args.data, args.out, args.seed, args.size,
                                                             args.max_steps), "reward_model.json")
    except (ValueError, OSError) as err:
        print(f"gift build tiny-reward-model: error: {err}", file=sys.stderr)
        return 2
    print(f"tiny reward model ({args.size}, {r['params']:,} params) -> {args.out}  [{r['build_s']}s]{cached}")
    print(f"  held-out preference accuracy {100 * r['heldout_accuracy']:.1f}% on {r['heldout_pairs']} pairs; "
          f"length bias (score gain from filler) {r['length_bias']:+.3f}")
    return 0
