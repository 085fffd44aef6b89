"""Compare two `snakemake -n -p` outputs job by job: outputs, inputs, log, benchmark, resources, shell command.

    python tests/scripts/compare_dryruns.py BEFORE.txt AFTER.txt [--eval-scripts] [--rewrite OLD=>NEW ...]
                                            [--replace OLD=>NEW ...]

A job is keyed by its outputs; job ids, timestamps, wildcards, the reason and the rule's name are left out, so
that renamed or merged rules compare equal when their jobs are the same. Input and output lists compare as sets,
resources as a mapping, shell commands as the shell's words (runs of blanks do not matter). --rewrite applies a
regular-expression substitution to BEFORE's commands first (a known change of program path); --eval-scripts adds
the rewrites of `-m gift.cli eval KIND` to the step scripts evals/*.py; --replace replaces a literal text
anywhere in BEFORE (e.g. the directory of the checkout it was made in). Exit status 0 when the jobs are the same.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import sys
from pathlib import Path

# `gift eval WORD` -> the step script that runs it (evals/*.py call the same command)
EVAL_SCRIPTS = {"rlvr": "rlvr", "lm-eval": "lm_eval", "alpaca": "alpaca_eval", "arena-hard": "arena_hard",
                "many": "eval_job"}
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")
FIELD = re.compile(r"^    (\w[\w ]*): (.*)$")
IGNORED = {"jobid", "wildcards", "reason"}
LISTS = {"input", "output"}


def eval_rewrites() -> list[tuple[str, str]]:
    return [(rf"-m gift\.cli eval {re.escape(word)}(?= )", f"evals/{script}.py") for word, script in EVAL_SCRIPTS.items()]


def shell_words(command: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(command))
    except ValueError:  # an unbalanced quote: compare blank-separated words
        return tuple(command.split())


def parse(text: str, rewrites: list[tuple[str, str]] = ()) -> dict[tuple[str, ...], dict]:
    """The jobs of a dry run, keyed by their sorted outputs."""
    jobs: dict[tuple[str, ...], dict] = {}
    job: dict | None = None

    def close() -> None:
        nonlocal job
        if job is not None:
            key = tuple(sorted(job.get("output", ())))
            if key in jobs:
                raise SystemExit(f"two jobs write {key}")
            jobs[key] = job
        job = None

    for line in text.splitlines():
        if RULE.match(line):
            close()
            job = {}
        elif job is None:
            continue
        elif line.startswith("Shell command: "):
            command = line[len("Shell command: "):]
            for old, new in rewrites:
                command = re.sub(old, new, command)
            job["shell"] = shell_words(command)
        elif m := FIELD.match(line):
            key, value = m.groups()
            if key in IGNORED:
                continue
            if key in LISTS:
                job[key] = frozenset(value.split(", "))
            elif key == "resources":
                job[key] = dict(item.split("=", 1) for item in value.split(", "))
            else:
                job[key] = value
        elif not line.strip():
            close()
    close()
    return jobs


def compare(before: dict, after: dict) -> list[str]:
    """The differences, one line each (none when the jobs are the same)."""
    out = []
    for key in sorted(before.keys() - after.keys()):
        out.append(f"only before: {', '.join(key) or '(no output)'}")
    for key in sorted(after.keys() - before.keys()):
        out.append(f"only after: {', '.join(key) or '(no output)'}")
    for key in sorted(before.keys() & after.keys()):
        b, a = before[key], after[key]
        for field in sorted(b.keys() | a.keys()):
            if b.get(field) != a.get(field):
                out.append(f"{', '.join(key)}: {field}: {describe(b.get(field), a.get(field))}")
    return out


def describe(b, a) -> str:
    if isinstance(b, frozenset) and isinstance(a, frozenset):
        return f"removed {sorted(b - a)}, added {sorted(a - b)}"
    if isinstance(b, dict) and isinstance(a, dict):
        return ", ".join(f"{k}: {b.get(k)} -> {a.get(k)}" for k in sorted(b.keys() | a.keys()) if b.get(k) != a.get(k))
    if isinstance(b, tuple) and isinstance(a, tuple):
        return f"{shlex.join(b)!r} -> {shlex.join(a)!r}"
    return f"{b!r} -> {a!r}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--eval-scripts", action="store_true", help="map `-m gift.cli eval KIND` to evals/KIND.py")
    p.add_argument("--rewrite", action="append", default=[], metavar="OLD=>NEW",
                   help="a regular expression and its replacement, applied to BEFORE's commands")
    p.add_argument("--replace", action="append", default=[], metavar="OLD=>NEW",
                   help="a literal text and its replacement, anywhere in BEFORE")
    args = p.parse_args(argv)
    for item in args.rewrite + args.replace:
        if "=>" not in item:
            p.error(f"{item!r}: expected OLD=>NEW")
    rewrites = eval_rewrites() if args.eval_scripts else []
    rewrites += [tuple(item.split("=>", 1)) for item in args.rewrite]
    text = args.before.read_text()
    for old, new in (item.split("=>", 1) for item in args.replace):
        text = text.replace(old, new)
    before = parse(text, rewrites)
    after = parse(args.after.read_text())
    diffs = compare(before, after)
    print(f"{args.before.name}: {len(before)} jobs before, {len(after)} after, {len(diffs)} differences")
    with contextlib.suppress(BrokenPipeError):  # `| head`: the reader has what it wanted
        for line in diffs:
            print(line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
