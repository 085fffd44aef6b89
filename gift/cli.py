"""The `gift` command: a thin dispatcher to the subcommands each module owns."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

# (words, "module:function", one-line help). Each target takes argv (list[str]) and returns an exit code.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("train",), "gift.train:cli", "train one run from a run config (resumes if interrupted)"),
    (("data", "prepare"), "gift.data.prepare:cli", "prepare a dataset's splits as JSONL (hub, local or synthetic)"),
    (("build", "tiny-backbone"), "gift.tiny_backbone:cli_backbone", "build and warm-start a tiny Qwen2 policy"),
    (("build", "tiny-reward-model"), "gift.tiny_reward:cli_reward_model", "build a tiny Bradley-Terry reward model"),
    (("build", "mirror"), "gift.mirror:cli", "a local hub cache of small models of the paper's architectures"),
    (("eval", "rlvr"), "gift.evals.rlvr:cli", "RLVR pass@1 (sampled and greedy) on a prepared split"),
    (("eval", "lm-eval"), "gift.evals.lm_eval_runner:cli", "lm-eval tasks (paper names or local twins)"),
    (("eval", "alpaca"), "gift.evals.alpaca:cli", "AlpacaEval 2 (LC win rate, win rate, length)"),
    (("eval", "arena-hard"), "gift.evals.arena_hard:cli", "Arena-Hard v2 (style control, creative writing)"),
    (("eval", "many"), "gift.evals.many:cli", "several evaluations of a workflow job file in one process"),
    (("grid",), "gift.grid:cli", "every run of a config with its resolved run config and batch sizes (--json)"),
    (("gpus", "run"), "gift.gpus:cli", "run a command on free GPUs of this machine (one job per GPU)"),
    (("config", "check"), "gift.grid:cli_check", "check a workflow config as the workflow does (schema, names, args)"),
    (("estimate",), "gift.estimate:cli", "GPU-hours the paper grid needs, with every assumption"),
    (("report",), "gift.report.partial:cli", "REPORT.md and the figures from whatever runs have finished"),
    (("report", "calibrate"), "gift.report.calibrate:cli", "the verdict rule's false-decisive rate and power, simulated"),
    (("fetch",), "gift.fetch:cli", "download every model, dataset and evaluator file a config needs, pinned"),
    (("doctor",), "gift.doctor:cli", "preflight of a config on this machine: GPUs, packages, keys, hub, disk"),
    (("bench", "step-time"), "gift.bench:cli_step_time", "GIFT/GRPO time per update: paired ratios, two scenarios"),
    (("bench", "sandbox"), "gift.sandbox_bench:cli_bench", "the sandbox's overhead per program against a plain subprocess"),
]


def _usage() -> str:
    lines = ["usage: gift [--debug] COMMAND [ARGS...]", "", "commands:"]
    for words, _, help_text in COMMANDS:
        lines.append(f"  {' '.join(words):<24} {help_text}")
    lines += ["", "--debug: print the traceback of an error (otherwise only its message; the traceback is",
              f"logged to {error_log_path()})"]
    return "\n".join(lines)


def error_log_path() -> Path:
    """Where the `gift` command appends the traceback of every error: $GIFT_ERROR_LOG or the user cache."""
    if os.environ.get("GIFT_ERROR_LOG"):
        return Path(os.environ["GIFT_ERROR_LOG"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "gift" / "error.log"


def _user_message(err: BaseException) -> str | None:
    """The one-line message of a user error (bad config, data, path or encoding), or None for a bug."""
    import yaml

    from gift.errors import UserError

    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, UnicodeDecodeError):
        return (f"input is not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at offset {err.start}); "
                "save the file as UTF-8")
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, (ValueError, OSError, yaml.YAMLError)):
        # the suite reports bad values as ValueError with a message that names them
        return str(err) or type(err).__name__
    return None


def _log_traceback(prog: str, argv: list[str]) -> Path | None:
    path = error_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 2**22:  # keep the newest megabyte, not every error ever
            path.write_bytes(path.read_bytes()[-2**20:])
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} {prog} {' '.join(argv)}\n")
            f.write(traceback.format_exc())
    except OSError:
        return None
    return path


def _run(prog: str, func, argv: list[str], debug: bool) -> int:
    """Run one subcommand; a user error becomes one message on stderr and exit status 2."""
    try:
        return int(func(argv) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        message = _user_message(err)
        log = _log_traceback(prog, argv)
        if debug:
            traceback.print_exc()
        if message is None:
            if not debug:
                traceback.print_exc()
            return 1
        where = f"the traceback is in {log}" if log else "the traceback could not be logged"
        print(f"{prog}: error: {message}", file=sys.stderr)
        if not debug:
            print(f"({where}; add --debug to print it)", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("GIFT_DEBUG", "") not in ("", "0")
    while argv and argv[0] == "--debug":  # only before the command: what follows belongs to the command
        debug = True
        argv = argv[1:]
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    for words, target, _ in sorted(COMMANDS, key=lambda c: -len(c[0])):
        if tuple(argv[: len(words)]) == words:
            module_name, func_name = target.split(":")
            func = getattr(importlib.import_module(module_name), func_name)
            return _run(f"gift {' '.join(words)}", func, argv[len(words):], debug)
    print(f"gift: unknown command {' '.join(argv[:2])!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
