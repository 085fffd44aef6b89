"""Tiny models built by code: a BPE tokenizer with a Qwen chat template and a warm-started Qwen2 policy.

The backbone is supervised on the synthetic solutions until its pass@1 on every synthetic RLVR eval
split lies in a target band (10%-60% by default), so that RL has room to move either way. The sizes,
data loading and tokenizer here serve the tiny reward model too (`gift.tiny_reward`).
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

# Qwen's chat format, shared by every tiny tokenizer (gift.charpolicy too).
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
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                                   additional_special_tokens=[START_TOKEN], model_max_length=MAX_LEN * 4,
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
    import torch
    from transformers import Qwen2ForCausalLM

    if not 0.0 <= target_low < target_high <= 1.0:
        raise ValueError(f"target band [{target_low}, {target_high}] is not a sub-interval of [0, 1]")
    sz = _size(size)
    plan = _WarmStartPlan(steps=max_steps if max_steps is not None else sz.max_steps,
                          eval_every=eval_every or sz.eval_every, band=(target_low, target_high), seed=seed)
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
    # Room for the longest reference response and half again: enough for the task, cheap to sample.
    plan.max_new_tokens = max_new_tokens or min(256, int(max(len(ids) - n for ids, n in encoded) * 1.5) + 8)
    rng = random.Random(seed)
    eval_subsets = {name: rng.sample(rows, min(sz.eval_n, len(rows))) for name, rows in sorted(evals.items())}
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        log = file_logger(f"gift.tiny.backbone.{id(tmp)}", tmp / "build.log")
        log.info("size=%s params=%d train_examples=%d eval=%s", size, n_params, len(encoded),
                 {k: len(v) for k, v in evals.items()})
        fit = _warm_start(model, tokenizer, encoded, eval_subsets, sz, plan, rng, log,
                          desc=f"warm-start {size}", progress=progress)
        final = _final_pass_at_1(model, tokenizer, evals, sz, plan)
        _save_policy(model, tokenizer, tmp, plan.max_new_tokens)
        in_band = all(target_low <= v["pass@1"] <= target_high for v in final.values())
        report = {"kind": "tiny-backbone", "size": size, "seed": seed, "params": n_params, "steps": fit["step"],
                  "stop_reason": fit["stop_reason"], "target_band": [target_low, target_high],
                  "final_in_band": in_band, "final": final, "history": fit["history"],
                  "max_new_tokens": plan.max_new_tokens, "data": [str(d) for d in data_dirs], "config": asdict(sz),
                  "build_s": round(time.time() - t0, 1)}
        write_json(tmp / "warm_start.json", report)
        log.info("done: %s", json.dumps({k: report[k] for k in ("steps", "stop_reason", "final", "build_s")}))
        _close(log)
    return report


@dataclass
class _WarmStartPlan:
    """How long the warm start may train, how often it checks pass@1, and the band it aims for."""

    steps: int
    eval_every: int
    band: tuple[float, float]
    seed: int
    max_new_tokens: int = 0


def _warm_start(model: Any, tokenizer: Any, encoded: list[tuple[list[int], int]], eval_subsets: dict[str, list],
                sz: Size, plan: _WarmStartPlan, rng: random.Random, log: Any, desc: str, progress: bool) -> dict:
    """Supervised steps with pass@1 checks until `_stop_reason` says stop; loads the checkpoint closest to the band.

    Returns the kept step, why training stopped and the history of checks.
    """
    import copy

    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=sz.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, plan.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    samples = {n: len(r) * sz.eval_k for n, r in eval_subsets.items()}
    order: list[int] = []
    history, best = [], None
    stop_reason = "max_steps"
    bar = tqdm(range(1, plan.steps + 1), desc=desc, disable=not progress)
    for step in bar:
        loss = _sft_step(model, opt, sched, encoded, _next_batch(order, len(encoded), sz.batch_size, rng),
                         tokenizer.pad_token_id)
        if step % plan.eval_every and step != plan.steps:
            continue
        scores = _interim_pass_at_1(model, tokenizer, eval_subsets, sz, plan)
        dist = _band_distance(scores, *plan.band)
        history.append({"step": step, "loss": round(loss, 4), "pass@1": scores, "band_distance": dist})
        log.info("step %d loss %.4f pass@1 %s", step, loss, scores)
        bar.set_postfix(loss=f"{loss:.3f}", **{k[:6]: f"{v:.2f}" for k, v in scores.items()})
        best_before = None if best is None else best[0]
        if best is None or dist < best[0]:
            best = (dist, step, copy.deepcopy(model.state_dict()))
        reason = _stop_reason(scores, samples, best_before, *plan.band)
        if reason:
            stop_reason = reason
            break
    bar.close()
    model.load_state_dict(best[2])
    return {"step": best[1], "stop_reason": stop_reason, "history": history}


def _next_batch(order: list[int], n: int, batch_size: int, rng: random.Random) -> list[int]:
    """The next `batch_size` indices of a stream of shuffled passes over `n` items (`order` is the stream)."""
    if len(order) < batch_size:
        perm = list(range(n))
        rng.shuffle(perm)
        order += perm
    batch = order[:batch_size]
    del order[:batch_size]
    return batch


def _sft_step(model: Any, opt: Any, sched: Any, encoded: list[tuple[list[int], int]], batch: list[int],
              pad_id: int) -> float:
    """One supervised step on the responses of `batch` (gradient clipped at 1); returns the loss."""
    import torch

    model.train()
    loss = model(**_sft_batch([encoded[i] for i in batch], pad_id)).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


def _interim_pass_at_1(model: Any, tokenizer: Any, eval_subsets: dict[str, list], sz: Size,
                       plan: _WarmStartPlan) -> dict[str, float]:
    """Sampled pass@1 (k = eval_k, temperature 1) on each split's interim subset."""
    from gift.evals.rlvr import evaluate_pass_at_1

    return {name: evaluate_pass_at_1(model, tokenizer, rows, k=sz.eval_k, max_new_tokens=plan.max_new_tokens,
                                     greedy=False, batch_size=64, seed=plan.seed, progress=False)["pass@1"]
            for name, rows in eval_subsets.items()}


def _final_pass_at_1(model: Any, tokenizer: Any, evals: dict[str, list], sz: Size, plan: _WarmStartPlan) -> dict:
    """pass@1 (k = 4) and greedy pass@1 of the kept checkpoint on each full eval split (up to `final_n`)."""
    from gift.evals.rlvr import evaluate_pass_at_1

    final = {}
    for name, rows in sorted(evals.items()):
        rows = rows[: sz.final_n] if sz.final_n else rows
        res = evaluate_pass_at_1(model, tokenizer, rows, k=4, max_new_tokens=plan.max_new_tokens, greedy=True,
                                 batch_size=64, seed=plan.seed, progress=False)
        final[name] = {"pass@1": res["pass@1"], "pass@1_stderr": res["pass@1_stderr"],
                       "pass@1_greedy": res["pass@1_greedy"], "n": res["n"], "unparsed": res["unparsed"]}
    return final


def _save_policy(model: Any, tokenizer: Any, out: Path, max_new_tokens: int) -> None:
    """Save model and tokenizer with a generation config that samples at temperature 1 up to `max_new_tokens`."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=True,
                                               temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _close(log: Any) -> None:
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()


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


def build_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every `gift build tiny-*` command takes: data, output, seed, size, step budget, cache."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--data", nargs="+", required=True, help="prepared dataset directories")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="smoke", choices=sorted(SIZES))
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--no-cache", action="store_true",
                        help="build even if the model cache (GIFT_MODEL_CACHE, see gift.modelcache) holds this build")
    return parser


def cli_backbone(argv: list[str]) -> int:
    """Entry point of `gift build tiny-backbone`."""
    parser = build_parser("gift build tiny-backbone", build_backbone.__doc__)
    parser.add_argument("--target-low", type=float, default=0.1)
    parser.add_argument("--target-high", type=float, default=0.6)
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
