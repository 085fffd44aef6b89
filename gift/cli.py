"""The `gift` command: a thin dispatcher to the subcommands each module owns."""

from __future__ import annotations

import importlib
import sys

# (words, "module:function", one-line help). Each target takes argv (list[str]) and returns an exit code.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("train",), "gift.train:cli", "train one run from a run config (resumes if interrupted)"),
    (("data", "prepare"), "gift.data.prepare:cli", "prepare a dataset's splits as JSONL (hub, local or synthetic)"),
    (("build", "tiny-backbone"), "gift.tiny:cli_backbone", "build and warm-start a tiny Qwen2 policy"),
    (("build", "tiny-reward-model"), "gift.tiny:cli_reward_model", "build a tiny Bradley-Terry reward model"),
    (("eval", "rlvr"), "gift.evals.rlvr:cli", "RLVR pass@1 (sampled and greedy) on a prepared split"),
    (("eval", "lm-eval"), "gift.evals.lm_eval_runner:cli", "lm-eval tasks (paper names or local twins)"),
    (("eval", "alpaca"), "gift.evals.alpaca:cli", "AlpacaEval 2 (LC win rate, win rate, length)"),
    (("eval", "arena-hard"), "gift.evals.arena_hard:cli", "Arena-Hard v2 (style control, creative writing)"),
    (("grid",), "gift.grid:cli", "every run of a config with its resolved run config and batch sizes (--json)"),
    (("gpus", "run"), "gift.gpus:cli", "run a command on free GPUs of this machine (one job per GPU)"),
    (("estimate",), "gift.estimate:cli", "GPU-hours the paper grid needs, with every assumption"),
    (("bench", "step-time"), "gift.bench:cli_step_time", "GIFT/GRPO time per update: paired ratios, two scenarios"),
    (("bench", "sandbox"), "gift.sandbox_bench:cli_bench", "the sandbox's overhead per program against a plain subprocess"),
]


def _usage() -> str:
    lines = ["usage: gift COMMAND [ARGS...]", "", "commands:"]
    for words, _, help_text in COMMANDS:
        lines.append(f"  {' '.join(words):<24} {help_text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    for words, target, _ in sorted(COMMANDS, key=lambda c: -len(c[0])):
        if tuple(argv[: len(words)]) == words:
            module_name, func_name = target.split(":")
            func = getattr(importlib.import_module(module_name), func_name)
            return int(func(argv[len(words):]) or 0)
    print(f"gift: unknown command {' '.join(argv[:2])!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
