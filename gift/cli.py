"""The `gift` command: a thin dispatcher to the subcommands each module owns, and the help formatter they share."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help with `(default: X)` after each option that has a default worth showing.

    Unlike argparse.ArgumentDefaultsHelpFormatter, no `(default: None)` or `(default: False)` noise for options
    that are off unless given, and no second default where the help already names it.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


def parser(prog: str, description: str | None = None, **kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser of a `gift` subcommand with the suite's help formatter."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter, **kwargs)


# `--model` of the evaluations: what the workflow passes (gift.grid.evals.eval_model_arg).
MODEL_HELP = ("the model to evaluate: a from_pretrained directory (a run's final/), or a hub id pinned as "
              "owner/name@revision (what the workflow passes for an untrained hub backbone; read from the hub cache "
              "that gift fetch filled)")


# (words, "module:function", one-line help). Each target takes argv (list[str]) and returns an exit code.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("train",), "gift.run.train:cli", "train one run from a run config (resumes if interrupted)"),
    (("data", "prepare"), "gift.data.prepare:cli", "prepare a dataset's splits as JSONL (hub, local or synthetic)"),
    (("build", "tiny-backbone"), "gift.tiny.backbone:cli_backbone", "build and warm-start a tiny Qwen2 policy"),
    (("build", "tiny-reward-model"), "gift.tiny.reward_model:cli_reward_model", "build a tiny Bradley-Terry reward model"),
    (("build", "mirror"), "gift.hub.mirror:cli", "a local hub cache of small models of the paper's architectures"),
    (("eval", "rlvr"), "gift.evals.rlvr.pass_at_k:cli", "RLVR pass@1 (sampled and greedy) on a prepared split"),
    (("eval", "lm-eval"), "gift.evals.lm_eval.runner:cli", "lm-eval tasks (paper names or local twins)"),
    (("eval", "alpaca"), "gift.evals.alpaca_eval.evaluate:cli", "AlpacaEval 2 (LC win rate, win rate, length)"),
    (("eval", "arena-hard"), "gift.evals.arena_hard.evaluate:cli", "Arena-Hard v2 (style control, creative writing)"),
    (("eval", "many"), "gift.grid.eval_jobs:cli", "several evaluations of a workflow job file in one process"),
    (("grid",), "gift.grid.expansion:cli", "every run of a config with its resolved run config and batch sizes (--json)"),
    (("gpus", "run"), "gift.gpus:cli", "run a command on free GPUs of this machine (one job per GPU)"),
    (("config", "check"), "gift.grid.expansion:cli_check", "check a workflow config as the workflow does (schema, names, args)"),
    (("estimate",), "gift.estimate:cli", "GPU-hours the paper grid needs, with every assumption"),
    (("report",), "gift.report.partial:cli", "REPORT.md and the figures from whatever runs have finished"),
    (("report", "calibrate"), "gift.report.calibrate:cli", "the verdict rule's false-decisive rate and power, simulated"),
    (("timings",), "gift.timings:cli", "measured times of the workflows run here, from their benchmark files"),
    (("fetch",), "gift.hub.fetch:cli", "download every model, dataset and evaluator file a config needs, pinned"),
    (("doctor",), "gift.doctor:cli", "preflight of a config on this machine: GPUs, packages, keys, hub, disk"),
    (("bench", "step-time"), "gift.bench:cli_step_time", "GIFT/GRPO time per update: paired ratios, two scenarios"),
    (("bench", "rollouts"), "gift.bench:cli_rollouts",
     "rollout batch time: transformers generate against colocated vLLM (needs vLLM), paired, engine start apart"),
    (("bench", "sandbox"), "gift.bench:cli_sandbox", "the sandbox's overhead per program against a plain subprocess"),
]


def _usage(group: tuple[str, ...] = ()) -> str:
    """The list of commands (those of one group, e.g. `data`, when given)."""
    prefix = " ".join(group) + " " if group else ""
    lines = [f"usage: gift [--debug] {prefix}COMMAND [ARGS...]", "", f"commands{' of gift ' + prefix.strip() if group else ''}:"]
    for words, _, help_text in COMMANDS:
        if words[: len(group)] == group:
            lines.append(f"  {' '.join(words):<24} {help_text}")
    lines += ["", "gift COMMAND --help (or gift help COMMAND) describes a command and its options.",
              "--debug (anywhere before a `--`): print the traceback of an error (otherwise only its message; the",
              f"traceback is logged to {error_log_path()}).  gift --version: the installed version."]
    return "\n".join(lines)


def _groups() -> set[tuple[str, ...]]:
    """The command groups: the first words of the commands that have more than one word (data, build, eval...)."""
    return {words[:1] for words, _, _ in COMMANDS if len(words) > 1}


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


def _quiet_closed_pipe() -> int:
    """The reader of stdout went away (`gift grid ... | head -1`): stop without a message, as a shell tool does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not raise again
    except OSError:
        pass
    return 141  # 128 + SIGPIPE, what a tool killed by the closed pipe reports


def _run(prog: str, func, argv: list[str], debug: bool) -> int:
    """Run one subcommand; a user error becomes one message on stderr and exit status 2."""
    try:
        code = int(func(argv) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_closed_pipe()
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


def _strip_debug(argv: list[str]) -> tuple[list[str], bool]:
    """`--debug` wherever it stands before a `--` (what follows `--` is another program's, e.g. `gift gpus run`)."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:end] if a != "--debug"]
    return head + argv[end:], len(head) < end


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, debug_flag = _strip_debug(argv)
    debug = debug_flag or os.environ.get("GIFT_DEBUG", "") not in ("", "0")
    if argv[:1] in (["--version"], ["-V"], ["version"]):
        from gift import __version__

        print(f"gift {__version__}")
        return 0
    if argv[:1] == ["help"]:  # `gift help [COMMAND...]`: the same as `gift [COMMAND...] --help`
        argv = [*argv[1:], "--help"]
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    group_help = tuple(argv[:1]) in _groups() and (len(argv) == 1 or argv[1] in {"-h", "--help"})
    if group_help:  # `gift report` is a group and a command too: list the group, then the command's own options
        print(_usage(tuple(argv[:1])))
        if len(argv) == 1 or not any(words == tuple(argv[:1]) for words, _, _ in COMMANDS):
            return 0
        print()
    for words, target, _ in sorted(COMMANDS, key=lambda c: -len(c[0])):
        if tuple(argv[: len(words)]) == words:
            module_name, func_name = target.split(":")
            func = getattr(importlib.import_module(module_name), func_name)
            if group_help:
                with contextlib.suppress(SystemExit):
                    func(["--help"])
                return 0
            return _run(f"gift {' '.join(words)}", func, argv[len(words):], debug)
    group = tuple(argv[:1]) if tuple(argv[:1]) in _groups() else ()
    print(f"gift: unknown command {' '.join(argv[:2])!r}\n\n{_usage(group)}", file=sys.stderr)
    return 2


def step_main(script: str, words: list[str], argv: list[str]) -> int:
    """A workflow step script (evals/*.py): `gift WORDS ARGV`, with the script's own folder taken off the import
    path first, so that evals/lm_eval.py and evals/alpaca_eval.py do not stand in for the packages of those names."""
    folder = Path(script).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != folder]
    return main([*words, *argv])


if __name__ == "__main__":
    sys.exit(main())
