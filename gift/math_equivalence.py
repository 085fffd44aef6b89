"""Math-answer equivalence (math-verify) in a worker process with a CPU-time limit, safe from any thread.

math-verify's own timeout is a wall-clock SIGALRM that works only on the main thread, so a reward
computed elsewhere could hang, and one computed under load could time out where it would not on an
idle machine. Here every check runs in a long-lived worker process (`python -m gift.math_equivalence`): before
each check the worker arms a CPU-time timer (ITIMER_PROF, whose signal's default action ends the
process even inside C code), so a check that needs more than `cpu_s` CPU-seconds ends the same way
however busy the machine is. The caller counts it as a timeout, logs it and starts a fresh worker for
the next check. A wall-clock guard far above the limit only catches a worker that stops being scheduled.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

DEFAULT_CPU_S = 5.0
MAX_ANSWER_CHARS = 1000  # longer "answers" are not answers; they are not parsed at all
MEMORY_MB = 4096

log = logging.getLogger("gift.rewards")


class VerifyTimeout(Exception):
    """A check exceeded its CPU-time limit (or the wall-clock guard); it scores 0 and is counted."""


class _Worker:
    """One worker process, its pipes and the lock that serialises the threads that use it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.owner = -1
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
               "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "gift.math_equivalence"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0)
        self.owner = os.getpid()
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.owner == os.getpid():
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def ask(self, request: dict, cpu_s: float) -> dict:
        with self.lock:
            # a forked child must not share its parent's pipes
            proc = self.proc if self.proc is not None and self.owner == os.getpid() and self.proc.poll() is None \
                else self._start()
            wall_s = 30.0 + 20.0 * cpu_s
            try:
                proc.stdin.write((json.dumps({**request, "cpu_s": cpu_s}) + "\n").encode())
                ready, _, _ = select.select([proc.stdout], [], [], wall_s)
                line = proc.stdout.readline() if ready else b""
            except (BrokenPipeError, OSError):
                line = b""
            if line:
                return json.loads(line)
            if ready:  # the worker ended: the CPU-time limit, the memory limit or a crash
                code = proc.wait()
                self.proc = None
                if code == -signal.SIGPROF:
                    raise VerifyTimeout(f"more than {cpu_s:g} CPU-seconds")
                return {"error": f"worker ended with status {code}"}
            self.stop()
            raise VerifyTimeout(f"no answer within the {wall_s:g} s wall-clock guard")


_WORKER = _Worker()


def equivalent(prediction: str, ground_truth: str, cpu_s: float = DEFAULT_CPU_S) -> bool:
    """Whether math-verify finds two LaTeX answers equivalent, within `cpu_s` CPU-seconds.

    Raises VerifyTimeout past the limit, ValueError when the worker reports an error. Answers longer
    than MAX_ANSWER_CHARS are not equivalent to anything (checked before any parsing).
    """
    if len(prediction) > MAX_ANSWER_CHARS or len(ground_truth) > MAX_ANSWER_CHARS:
        return False
    reply = _WORKER.ask({"gold": ground_truth, "pred": prediction}, cpu_s)
    if "error" in reply:
        raise ValueError(f"math verification failed: {reply['error']}")
    return bool(reply["equal"])


def _check(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    # no math-verify timeouts: the CPU-time timer bounds the whole check
    g = parse(f"${gold}$", parsing_timeout=None)
    p = parse(f"${pred}$", parsing_timeout=None)
    if not g or not p:
        return False
    return bool(verify(g, p, timeout_seconds=None))


def _serve() -> None:
    """The worker: one JSON request a line on stdin, one JSON reply a line on stdout."""
    import resource

    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    limit = MEMORY_MB * 2**20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        signal.setitimer(signal.ITIMER_PROF, float(request["cpu_s"]))
        try:
            reply = {"equal": _check(request["gold"], request["pred"])}
        except MemoryError:
            reply = {"error": "out of memory"}
        except Exception as err:  # model output: any failure is reported, not fatal
            reply = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        out.write((json.dumps(reply) + "\n").encode())
        out.flush()


if __name__ == "__main__":
    _serve()
