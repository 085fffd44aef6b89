"""The tiny backbone: a Qwen2 policy built by code and warm-started into a target pass@1 band.

The backbone is supervised on the synthetic solutions until its pass@1 on every synthetic RLVR eval
split lies in a target band (10%-60% by default), so that RL has room to move either way. The sizes,
data loading and tokenizer are `gift.tiny.build`'s.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from gift.files import atomic_path, file_logger, write_json
from gift.tiny.build import (
    Size,
    build_parser,
    cached_build,
    close_log,
    corpus_texts,
    encode_sft,
    load_data_dirs,
    next_batch,
    qwen2_config,
    sft_batch,
    size_named,
    train_tokenizer,
)

# ---- the target band -------------------------------------------------------------------------------

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


# ---- warm start ---------------------------------------------------------------------------------------

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
    sz = size_named(size)
    plan = _WarmStartPlan(steps=max_steps if max_steps is not None else sz.max_steps,
                          eval_every=eval_every or sz.eval_every, band=(target_low, target_high), seed=seed)
    t0 = time.time()
    train, evals = load_data_dirs(data_dirs)
    if not evals:
        raise ValueError("no RLVR eval split among --data dirs (need e.g. a prepared gsm8k, math or aime2024)")
    tokenizer = train_tokenizer(corpus_texts(train + [e for v in evals.values() for e in v]), sz.vocab_size)
    encoded = encode_sft(tokenizer, train)
    if not encoded:
        raise ValueError("no train example with a response (reference or expert) to warm-start on")
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(qwen2_config(tokenizer, sz))
    n_params = sum(p.numel() for p in model.parameters())
    # Room for the longest reference response and half again: enough for the task, cheap to sample.
    plan.max_new_tokens = max_new_tokens or min(256, int(max(len(ids) - n for ids, n in encoded) * 1.5) + 8)
    rng = random.Random(seed)
    eval_subsets = {name: rng.sample(rows, min(sz.eval_n, len(rows))) for name, rows in sorted(evals.items())}
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        log = file_logger(f"gift.tiny.build.backbone.{id(tmp)}", tmp / "build.log")
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
        close_log(log)
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
        loss = _sft_step(model, opt, sched, encoded, next_batch(order, len(encoded), sz.batch_size, rng),
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


def _sft_step(model: Any, opt: Any, sched: Any, encoded: list[tuple[list[int], int]], batch: list[int],
              pad_id: int) -> float:
    """One supervised step on the responses of `batch` (gradient clipped at 1); returns the loss."""
    import torch

    model.train()
    loss = sft_backward(model, [encoded[i] for i in batch], pad_id)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return loss


def sft_backward(model: Any, items: list[tuple[list[int], int]], pad_id: int) -> float:
    """Accumulate the gradient of the mean loss over the response tokens of `items`; returns that loss.

    The batch runs as a few length-sorted slices, each padded only to its own longest sequence, each
    slice's mean weighted by its share of the tokens: the loss and gradient of one padded pass (up to float
    rounding) with about a third less compute on the tiny twins, whose longest sequence in a batch of 64
    is nearly twice the mean.
    """
    loss = 0.0
    for part, weight in sft_slices(items):
        scaled = model(**sft_batch(part, pad_id)).loss * weight
        scaled.backward()
        loss += scaled.item()
    return loss


def sft_slices(items: list[tuple[list[int], int]], rows_per_slice: int = 16,
               max_slices: int = 3) -> list[tuple[list[tuple[list[int], int]], float]]:
    """`items` sorted by length and cut into up to `max_slices` slices of about equal rows (at least
    `rows_per_slice` each), with each slice's share of the response tokens (what its mean loss is weighted by)."""
    ordered = sorted(items, key=lambda item: len(item[0]))
    n = max(1, min(max_slices, len(ordered) // rows_per_slice))
    slices = [ordered[k * len(ordered) // n:(k + 1) * len(ordered) // n] for k in range(n)]
    tokens = [sum(len(ids) - n_prompt for ids, n_prompt in part) for part in slices]
    total = sum(tokens)
    if total == 0:
        raise ValueError("a supervised batch without a response token")
    return [(part, t / total) for part, t in zip(slices, tokens, strict=True) if t]


def _interim_pass_at_1(model: Any, tokenizer: Any, eval_subsets: dict[str, list], sz: Size,
                       plan: _WarmStartPlan) -> dict[str, float]:
    """Sampled pass@1 (k = eval_k, temperature 1) on each split's interim subset."""
    from gift.evals.rlvr.pass_at_k import evaluate_pass_at_1

    return {name: evaluate_pass_at_1(model, tokenizer, rows, k=sz.eval_k, max_new_tokens=plan.max_new_tokens,
                                     greedy=False, batch_size=64, seed=plan.seed, progress=False)["pass@1"]
            for name, rows in eval_subsets.items()}


def _final_pass_at_1(model: Any, tokenizer: Any, evals: dict[str, list], sz: Size, plan: _WarmStartPlan) -> dict:
    """pass@1 (k = 4) and greedy pass@1 of the kept checkpoint on each full eval split (up to `final_n`)."""
    from gift.evals.rlvr.pass_at_k import evaluate_pass_at_1

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


# ---- command ---------------------------------------------------------------------------------------

def cli_backbone(argv: list[str]) -> int:
    """Entry point of `gift build tiny-backbone`."""
    parser = build_parser("gift build tiny-backbone", build_backbone.__doc__)
    parser.add_argument("--target-low", type=float, default=0.1,
                        help="lower end of the warm start's pass@1 band (a fraction)")
    parser.add_argument("--target-high", type=float, default=0.6,
                        help="upper end of the band: the warm start stops once inside it")
    args = parser.parse_args(argv)
    settings = {"size": args.size, "seed": args.seed, "max_steps": args.max_steps, "target_low": args.target_low,
                "target_high": args.target_high}
    try:
        r, cached = cached_build("tiny-backbone", args.data, args.out, settings, not args.no_cache,
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
