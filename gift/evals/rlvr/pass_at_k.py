"""RLVR evaluation: greedy pass@1 (verl's validation), and the sampled mean@k and pass@k at a stated temperature."""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gift.cli import MODEL_HELP, HelpFormatter
from gift.generation import generate, resolve_engine, sampling_settings
from gift.math_equivalence import VerifyTimeout
from gift.rewards import VERIFIABLE_KINDS, score_verifiable


def _mean_stderr(values: list[float]) -> tuple[float, float | None]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def _score(kind: str, completion: str, truth: str, counts: dict) -> float:
    try:
        value, parsed = score_verifiable(kind, completion, truth)
    except VerifyTimeout as err:
        counts["errors"] += 1
        counts["timeouts"] = counts.get("timeouts", 0) + 1
        logging.getLogger("gift.rewards").warning("%s: verification timed out (%s), scored 0", kind, err)
        return 0.0
    except Exception:
        counts["errors"] += 1
        return 0.0
    if not parsed:
        counts["unparsed"] += 1
    return value


def evaluate_pass_at_1(model: Any, tokenizer: Any, examples: list[dict], k: int = 4, temperature: float = 1.0,
                       top_p: float = 1.0, max_new_tokens: int = 1024, greedy: bool = True, batch_size: int = 32,
                       seed: int = 0, progress: bool = True, generate_fn: Any = None) -> dict:
    """pass@1 of `model` on prepared examples (each with `prompt`, `ground_truth`, `reward`).

    Returns fractions in [0, 1]: with `k` >= 1, `pass@1` (per example, the mean reward over `k` samples at
    `temperature`, i.e. mean@k; then the mean over examples) with `pass@1_stderr` (over examples) and `pass@k`
    (the share of examples with a correct sample among the k); `pass@1_greedy` and its stderr when `greedy`
    (one greedy answer per example: verl's validation); `n`, `k`; `unparsed` and `errors` counts (a completion
    that cannot be parsed scores 0); and `samples`, one record per example with its completions and rewards.
    `k` = 0 skips the sampled answers (`greedy` must then be on).
    `generate_fn` (default `gift.generation.generate`) is called as generate_fn(model, tokenizer, prompts, ...).
    """
    generate_fn = generate_fn or generate
    if not examples:
        raise ValueError("no examples to evaluate")
    if k < 0 or (k == 0 and not greedy):
        raise ValueError(f"k must be >= 1 (or 0 with greedy), got {k}")
    for ex in examples:
        kind = ex.get("reward")
        if kind not in VERIFIABLE_KINDS:
            raise ValueError(f"example {ex.get('id')!r}: reward {kind!r} is not verifiable "
                             f"(RLVR evaluation needs one of {', '.join(VERIFIABLE_KINDS)})")
        if ex.get("ground_truth") is None:
            raise ValueError(f"example {ex.get('id')!r}: missing ground_truth")
    prompts = [ex["prompt"] for ex in examples]
    counts = {"unparsed": 0, "errors": 0}
    samples = [{"id": ex.get("id"), "prompt": ex["prompt"], "ground_truth": ex["ground_truth"]} for ex in examples]
    result: dict[str, Any] = {"n": len(examples), "k": k, "temperature": temperature, "top_p": top_p,
                              "max_new_tokens": max_new_tokens}
    if k:
        sampled = generate_fn(model, tokenizer, prompts, n=k, temperature=temperature, top_p=top_p,
                              max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed, progress=progress)
        per_example, any_correct = [], []
        for ex, sample, completions in zip(examples, samples, sampled, strict=True):
            rewards = [_score(ex["reward"], c, ex["ground_truth"], counts) for c in completions]
            per_example.append(sum(rewards) / len(rewards))
            any_correct.append(1.0 if max(rewards) >= 1.0 else 0.0)
            sample.update(completions=completions, rewards=rewards)
        mean, stderr = _mean_stderr(per_example)
        result.update({"pass@1": mean, "pass@1_stderr": stderr, "pass@k": sum(any_correct) / len(any_correct)})
    if greedy:
        greedy_out = generate_fn(model, tokenizer, prompts, n=1, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                 seed=seed, greedy=True, progress=progress)
        greedy_counts = {"unparsed": 0, "errors": 0}
        greedy_rewards = []
        for ex, sample, (completion,) in zip(examples, samples, greedy_out, strict=True):
            r = _score(ex["reward"], completion, ex["ground_truth"], greedy_counts)
            greedy_rewards.append(r)
            sample["greedy"] = completion
            sample["greedy_reward"] = r
        g_mean, g_stderr = _mean_stderr(greedy_rewards)
        result.update({"pass@1_greedy": g_mean, "pass@1_greedy_stderr": g_stderr,
                       "greedy_unparsed": greedy_counts["unparsed"], "greedy_errors": greedy_counts["errors"]})
    result.update(unparsed=counts["unparsed"], errors=counts["errors"], timeouts=counts.get("timeouts", 0),
                  samples=samples)
    return result


def item_records(samples: list[dict]) -> list[dict]:
    """One record per eval item (eval_items.jsonl): its id, the answers behind the headline pass@1 (the greedy one
    when greedy ran, else the k samples) and how many were correct, so that two models' results can be compared
    item by item."""
    out = []
    for i, s in enumerate(samples):
        answers = [s["greedy_reward"]] if "greedy_reward" in s else s["rewards"]
        out.append({"id": s.get("id") if s.get("id") is not None else i, "samples": len(answers),
                    "correct": float(sum(answers))})
    return out


def items_path(out: Path) -> Path:
    """Where the per-item records of the result file `out` go: beside it, `<stem>.eval_items.jsonl`."""
    return out.with_name(out.stem + ".eval_items.jsonl")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * x, 4)


def _sampling_record(args: argparse.Namespace) -> dict:
    """The sampling parameters of the sampled pass (and of the greedy pass), as both engines received them."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    common = {"max_new_tokens": args.max_new_tokens, "seed": args.seed}
    record = {"sampled": sampling_settings(tok, args.model, n=args.k, temperature=args.temperature, top_p=args.top_p,
                                           **common)}
    if not args.no_greedy:
        record["greedy"] = sampling_settings(tok, args.model, n=1, greedy=True, **common)
    return record


def cli(argv: list[str]) -> int:
    """Entry point of `gift eval rlvr`."""
    from gift.files import git_commit, package_versions, read_jsonl, write_json, write_jsonl

    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift eval rlvr", description=__doc__)
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--data", required=True, help="a prepared split, e.g. results/<cfg>/data/gsm8k/test.jsonl")
    parser.add_argument("--out", required=True, help="results/<cfg>/evals/<model_id>/rlvr_<dataset>.json")
    parser.add_argument("--model-id", help="name in the results (default: the --out file's directory name)")
    parser.add_argument("--k", type=int, default=4,
                        help="samples per problem for the sampled mean@k and pass@k (0: greedy only)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of mean@k and pass@k")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="longest answer generated (tokens)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per generate call")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    parser.add_argument("--limit", type=int, help="evaluate the first N examples only")
    parser.add_argument("--no-greedy", action="store_true", help="skip greedy pass@1")
    parser.add_argument("--backend", default="auto", choices=("auto", "hf", "vllm"),
                        help="generation engine: auto takes vLLM when it is installed and a GPU is present")
    args = parser.parse_args(argv)
    try:
        from gift.pretrained import HubUnavailableError, local_model

        if not Path(args.model).is_dir():
            try:
                args.model = local_model(args.model)  # owner/name@revision from the hub cache (gift fetch)
            except (HubUnavailableError, FileNotFoundError, ValueError) as err:
                raise ValueError(f"--model {args.model}: not a directory, nor a fetched hub model ({err})") from None
        examples = read_jsonl(args.data)
        if args.limit:
            examples = examples[: args.limit]
        if not examples:
            raise ValueError(f"--data {args.data}: no examples")
        t0 = time.time()
        engine = resolve_engine(args.backend, args.model)
        res = evaluate_pass_at_1(args.model, None, examples, k=args.k, temperature=args.temperature,
                                 top_p=args.top_p, max_new_tokens=args.max_new_tokens, greedy=not args.no_greedy,
                                 batch_size=args.batch_size, seed=args.seed,
                                 generate_fn=functools.partial(generate, backend=engine))
        sampling = _sampling_record(args)
    except (ValueError, OSError) as err:
        print(f"gift eval rlvr: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    dataset = examples[0].get("dataset") or Path(args.data).parent.name
    samples_path = out.with_name(out.stem + ".samples.jsonl")
    common = {"n": res["n"], "task": dataset}
    metrics: dict[str, dict] = {}
    if "pass@1" in res:
        metrics["mean@k"] = {"value": _pct(res["pass@1"]), "stderr": _pct(res["pass@1_stderr"]), **common,
                             "metric": f"mean@{args.k}", "k": args.k, "temperature": args.temperature,
                             "top_p": args.top_p}
        metrics["pass@k"] = {"value": _pct(res["pass@k"]), "stderr": None, **common, "metric": f"pass@{args.k}",
                             "k": args.k, "temperature": args.temperature, "top_p": args.top_p}
    if "pass@1_greedy" in res:
        metrics["pass@1_greedy"] = {"value": _pct(res["pass@1_greedy"]), "stderr": _pct(res["pass@1_greedy_stderr"]),
                                    **common, "metric": "pass@1_greedy"}
    # The headline pass@1: one greedy answer per problem (verl's validation) when greedy ran, else mean@k.
    headline = metrics.get("pass@1_greedy") or metrics["mean@k"]
    metrics["pass@1"] = {**headline, "metric": "pass@1",
                         "protocol": "greedy" if "pass@1_greedy" in metrics else "sampled mean@k"}
    result = {
        "model": args.model_id or out.parent.name, "model_path": str(Path(args.model).resolve()), "eval": "rlvr",
        "metrics": metrics,
        "details": {"dataset": dataset, "data": str(args.data), "k": args.k, "temperature": args.temperature,
                    "top_p": args.top_p, "max_new_tokens": args.max_new_tokens, "seed": args.seed,
                    "unparsed": res["unparsed"], "errors": res["errors"],
                    "greedy_unparsed": res.get("greedy_unparsed"), "samples_file": samples_path.name,
                    "items_file": items_path(out).name,
                    "generation_engine": engine, "sampling": sampling, "wall_s": round(time.time() - t0, 2)},
        "provenance": {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                       "git_commit": git_commit(), "versions": package_versions(), "argv": ["gift", "eval", "rlvr", *argv]},
    }
    write_jsonl(samples_path, res["samples"])
    write_jsonl(items_path(out), item_records(res["samples"]))
    write_json(out, result)
    g = f", greedy {metrics['pass@1_greedy']['value']:.1f}%" if "pass@1_greedy" in metrics else ""
    print(f"{dataset}: pass@1 {metrics['pass@1']['value']:.1f}% ({metrics['pass@1']['protocol']}, n={res['n']}){g}, "
          f"unparsed {res['unparsed']} -> {out}")
    return 0
