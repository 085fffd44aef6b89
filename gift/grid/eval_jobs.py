"""``gift eval many --job FILE``: several evaluations in one process, in turn.

A job file (written by the workflow, `gift.grid.evals.write_eval_job`) lists evaluations, each as the
arguments of `gift eval` with its result file and log. They share one interpreter start-up (importing torch,
transformers and the evaluators costs more CPU time than a small model's evaluation). Each evaluation:

- runs exactly as `gift eval <argv>` would on its own: the same command table, the same handling of errors;
- writes its output and errors to its own log (file descriptors 1 and 2 redirected, so that subprocesses and
  native libraries land there too);
- is isolated from the others: one that fails is reported and the rest still run; the job exits 1 at the end.

A job killed midway and started again skips the evaluations it finished, those whose result file exists and
whose arguments are the ones recorded when it was written (``<job>.state.json``); an evaluation whose arguments
changed runs again.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gift.cli import HelpFormatter
from gift.errors import UserError
from gift.files import read_json, write_json
from gift.grid.evals import EVAL_COMMANDS, argv_digest


def _check_job(job: object, path: Path) -> list[dict]:
    """The job file's evaluations; a malformed file is a UserError naming the field."""
    if not isinstance(job, dict) or not isinstance(job.get("evals"), list):
        raise UserError(f"{path}: not an eval job file (expected an object with a list `evals`)")
    commands = set(EVAL_COMMANDS.values())
    for i, ev in enumerate(job["evals"]):
        where = f"{path}: evals[{i}]"
        if not isinstance(ev, dict):
            raise UserError(f"{where}: expected an object")
        for key in ("argv", "out", "log"):
            if key not in ev:
                raise UserError(f"{where}: missing `{key}`")
        argv = ev["argv"]
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise UserError(f"{where}.argv: expected a non-empty list of strings")
        if argv[0] not in commands:
            raise UserError(f"{where}.argv: {argv[0]!r} is not an eval command (one of {', '.join(sorted(commands))})")
    return job["evals"]


@contextlib.contextmanager
def _output_to(log: Path, streams: tuple) -> Iterator[None]:
    """File descriptors 1 and 2 write to `log` inside the block, and so do sys.stdout and sys.stderr.

    `streams` are text streams over descriptors 1 and 2 that outlive every block (`_fd_streams`): a logging
    handler that an evaluation creates on sys.stderr keeps a stream that is never closed, and it writes to
    whichever evaluation's log descriptor 2 points to at the time.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr, *streams):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
            try:
                yield
            finally:
                for stream in streams:
                    stream.flush()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for d in (*saved, fd):
            os.close(d)


def _fd_streams() -> tuple:
    """Line-buffered text streams over descriptors 1 and 2 (not closing them)."""
    return tuple(open(fd, "w", encoding="utf-8", buffering=1, closefd=False) for fd in (1, 2))


def _run_one(argv: list[str]) -> int:
    """`gift eval <argv>` in this process; its exit status (argparse's SystemExit included)."""
    from gift.cli import main

    try:
        return int(main(["eval", *argv]) or 0)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    except Exception as err:  # a bug in one evaluation must not stop the others: counted, logged, shown
        import traceback

        traceback.print_exc()
        print(f"gift eval {argv[0]}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


def run_job(job_path: str | Path, *, echo=print) -> int:
    """Run every evaluation of a job file in turn; 0 when each has written its result, else 1."""
    job_path = Path(job_path)
    evals = _check_job(read_json(job_path, "eval job file"), job_path)
    state_path = job_path.with_name(job_path.stem + ".state.json")
    state = read_json(state_path, "eval job state") if state_path.is_file() else {}
    if not isinstance(state, dict):
        state = {}
    failed: list[str] = []
    start = time.perf_counter()
    streams = _fd_streams()
    for i, ev in enumerate(evals, 1):
        name = f"{ev.get('model_id', '?')} {ev.get('eval', ev['argv'][0])}"
        digest = argv_digest(ev["argv"])
        out = Path(ev["out"])
        if state.get(ev["out"]) == digest and out.is_file():
            echo(f"[{i}/{len(evals)}] {name}: done before, skipped ({out})")
            continue
        if state.pop(ev["out"], None) is not None:
            write_json(state_path, state)
        t0 = time.perf_counter()
        with _output_to(Path(ev["log"]), streams):
            code = _run_one(ev["argv"])
        gc.collect()
        took = time.perf_counter() - t0
        if code == 0 and out.is_file():
            state[ev["out"]] = digest
            write_json(state_path, state)
            echo(f"[{i}/{len(evals)}] {name}: done in {took:.1f} s ({out})")
        else:
            why = f"exit status {code}" if code else "no result written"
            failed.append(f"{name} ({why}; log: {ev['log']})")
            echo(f"[{i}/{len(evals)}] {name}: FAILED in {took:.1f} s, {why}; log: {ev['log']}")
    echo(f"{len(evals) - len(failed)} of {len(evals)} evaluations done in {time.perf_counter() - start:.1f} s")
    if failed:
        echo(f"{len(failed)} failed: " + "; ".join(failed))
        return 1
    return 0


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift eval many", description=__doc__.splitlines()[0])
    p.add_argument("--job", required=True, type=Path, help="an eval job file (results/<cfg>/eval_jobs/<job>.json)")
    args = p.parse_args(argv)
    return run_job(args.job, echo=lambda line: print(line, flush=True))
