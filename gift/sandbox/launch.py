"""One sandboxed run: the rlimits and environment it gets, its launch in a mode, the capture of its output,
and the kill of whatever it leaves behind (the pieces `gift.sandbox.runner.execute` puts together)."""

from __future__ import annotations

import contextlib
import math
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gift.sandbox.layers import (
    count_processes_of,
    drop_capabilities,
    drop_to_uid,
    kill_uid,
    landlock_apply,
    last_capability,
    seccomp_apply,
    seccomp_program,
)
from gift.sandbox.modes import (
    RUNNER,
    TOKEN_BYTES,
    Mode,
    View,
    boot_script,
    fallback_rules,
    host_tool,
    interpreter_view,
    root_mountpoint,
)

_CAPTURE_BYTES = 64 * 1024  # kept of each stream
_FLOOD_BYTES = 4 * 1024 * 1024  # total output after which the program is killed as a flood
_UID_RANGE = (200_000, 260_000)  # fresh uids for dropped privileges; nothing on the host owns them


def _limits(timeout_s: float, memory_mb: int, file_size_mb: int, max_processes: int, max_open_files: int,
            mode: Mode) -> list[tuple[int, int]]:
    cpu = max(1, math.ceil(timeout_s))
    nproc = max_processes
    if not mode.drop_uid:
        # RLIMIT_NPROC counts every process of the real uid on the host, not only the sandbox's.
        nproc += count_processes_of(os.getuid())
    mem = memory_mb * 1024 * 1024
    # Without a private scratch tmpfs any write would land on the host: no file may grow at all.
    fsize = file_size_mb * 1024 * 1024 if mode.namespaced else 0
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (fsize, fsize)),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
        (resource.RLIMIT_NOFILE, (max_open_files, max_open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


def _stripped_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home,
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}


class _Capture(threading.Thread):
    """Drain a pipe, keep the first `keep` bytes, and report when the total passes the flood limit."""

    def __init__(self, stream, keep: int, on_flood) -> None:
        super().__init__(daemon=True)
        self.stream, self.keep, self.on_flood = stream, keep, on_flood
        self.buf = bytearray()
        self.total = 0

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
                if not chunk:
                    break
                self.total += len(chunk)
                if len(self.buf) < self.keep:
                    self.buf += chunk[: self.keep - len(self.buf)]
                if self.total > _FLOOD_BYTES:
                    self.on_flood()
                    break

    def text(self) -> tuple[str, bool]:
        return self.buf.decode("utf-8", errors="replace"), self.total > len(self.buf)


def _kill_group(proc: subprocess.Popen) -> None:
    # The child leads its own session, so its pgid is its pid; in a pid namespace --kill-child takes the rest.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


@dataclass
class RawRun:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    flooded: bool
    stdout_truncated: bool
    stderr_truncated: bool
    completed: bool
    duration_s: float


def run_once(source: str, mode: Mode, *, python: str, timeout_s: float, memory_mb: int, file_size_mb: int,
              max_processes: int, max_open_files: int, tmp_mb: int) -> RawRun:
    """Launch one program in `mode` and collect how it ended."""
    view = interpreter_view(python)
    uid = random.randint(*_UID_RANGE) if mode.drop_uid else None
    token = secrets.token_bytes(TOKEN_BYTES)
    token_r, token_w = os.pipe()
    done_r, done_w = os.pipe()
    limits = _limits(timeout_s, memory_mb, file_size_mb, max_processes, max_open_files, mode)
    launch = _prepare_launch(source, mode, view, tmp_mb, uid, token_r, done_w)
    preexec = _confinement(limits, mode, uid, launch.rules)
    flooded = threading.Event()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=launch.cwd, env=_stripped_env(launch.home), start_new_session=True,
                                preexec_fn=preexec, close_fds=True, pass_fds=(token_r, done_w))
    except OSError as err:
        for fd in (token_r, token_w, done_r, done_w):
            os.close(fd)
        if launch.host_dir:
            shutil.rmtree(launch.host_dir, ignore_errors=True)
        return RawRun(None, "", f"sandbox could not start: {err}", False, False, False, False, False, 0.0)
    _hand_over_token(token, token_r, token_w, done_r, done_w)
    out, err = _start_capture(proc, flooded)
    _feed_source(proc, source, mode)
    timed_out = _wait(proc, timeout_s, mode, flooded)
    duration = time.monotonic() - start
    _kill_leftovers(proc, uid, mode)
    reported = _read_reported(done_r)
    _finish_capture(proc, out, err)
    if launch.host_dir:
        shutil.rmtree(launch.host_dir, ignore_errors=True)
    so, so_trunc = out.text()
    se, se_trunc = err.text()
    return RawRun(proc.returncode, so, se, timed_out, flooded.is_set(), so_trunc, se_trunc,
                secrets.compare_digest(reported, token), duration)


@dataclass
class _Launch:
    """The command line, folders and Landlock rules of one run; `host_dir` holds the program in fallback mode."""

    argv: list[str]
    cwd: str
    home: str
    host_dir: str | None
    rules: list[tuple[str, int]]


def _prepare_launch(source: str, mode: Mode, view: View, tmp_mb: int, uid: int | None, token_r: int,
                    done_w: int) -> _Launch:
    """In a namespace the boot script builds the root and the program comes on stdin; in fallback mode the
    program is written to a fresh host folder that the Landlock rules let it read."""
    if mode.namespaced:
        script = boot_script(mode, view, root_mountpoint(view), tmp_mb, uid, token_r, done_w)
        argv = [host_tool("unshare") or "unshare", *mode.unshare, "--", host_tool("sh") or "/bin/sh", "-c", script]
        return _Launch(argv, "/", view.scratch, None, [])
    host_dir = tempfile.mkdtemp(prefix="gift-sandbox-")
    with open(os.path.join(host_dir, "main.py"), "w", encoding="utf-8") as f:
        f.write(source)
    os.chmod(host_dir, 0o755)
    os.chmod(os.path.join(host_dir, "main.py"), 0o644)
    argv = [view.python, "-I", "-B", "-c", RUNNER, str(token_r), str(done_w)]
    return _Launch(argv, host_dir, host_dir, host_dir, fallback_rules(view, host_dir))


def _confinement(limits: list[tuple[int, int]], mode: Mode, uid: int | None,
                 rules: list[tuple[str, int]]) -> Callable[[], None]:
    """What the child does between fork and exec: the rlimits, then (without namespaces) the kernel layers."""
    seccomp = None if mode.namespaced else seccomp_program()
    last_cap = last_capability()

    def preexec() -> None:
        for which, value in limits:
            resource.setrlimit(which, value)
        if not mode.namespaced:
            drop_capabilities(last_cap)
            if uid is not None:
                drop_to_uid(uid)
            landlock_apply(rules)
            if seccomp is not None:
                seccomp_apply(seccomp)

    return preexec


def _hand_over_token(token: bytes, token_r: int, token_w: int, done_r: int, done_w: int) -> None:
    """Close the child's pipe ends here and give the runner its token."""
    os.close(token_r)
    os.close(done_w)
    with contextlib.suppress(OSError):
        os.write(token_w, token)
    os.close(token_w)
    os.set_blocking(done_r, False)


def _start_capture(proc: subprocess.Popen, flooded: threading.Event) -> tuple[_Capture, _Capture]:
    def on_flood() -> None:
        flooded.set()
        _kill_group(proc)

    out = _Capture(proc.stdout, _CAPTURE_BYTES, on_flood)
    err = _Capture(proc.stderr, _CAPTURE_BYTES, on_flood)
    out.start()
    err.start()
    return out, err


def _feed_source(proc: subprocess.Popen, source: str, mode: Mode) -> None:
    # In a namespace the boot script copies its stdin into the scratch folder as main.py.
    with contextlib.suppress(OSError):
        if mode.namespaced:
            proc.stdin.write(source.encode("utf-8"))
        proc.stdin.close()


def _wait(proc: subprocess.Popen, timeout_s: float, mode: Mode, flooded: threading.Event) -> bool:
    """Wait for the program; True when the wall-clock limit (not a flood) ended it."""
    timed_out = False
    try:
        proc.wait(timeout=timeout_s + (0.5 if mode.namespaced else 0.0))  # the boot's mounts take a moment
    except subprocess.TimeoutExpired:
        timed_out = not flooded.is_set()
        _kill_group(proc)
        proc.wait()
    return timed_out


def _kill_leftovers(proc: subprocess.Popen, uid: int | None, mode: Mode) -> None:
    # Without a pid namespace a daemonised child may outlive the run: kill its group, and every process of
    # the fresh uid when privileges were dropped; a reader still blocked on a pipe is left to its thread.
    _kill_group(proc)
    if uid is not None and not mode.namespaced:
        kill_uid(uid)


def _read_reported(done_r: int) -> bytes:
    """What the runner wrote to its completion pipe (the token only if the program's text ran to its end)."""
    reported = b""
    with contextlib.suppress(OSError):
        while len(reported) <= 4 * TOKEN_BYTES:
            chunk = os.read(done_r, 256)
            if not chunk:
                break
            reported += chunk
    os.close(done_r)
    return reported


def _finish_capture(proc: subprocess.Popen, out: _Capture, err: _Capture) -> None:
    out.join(timeout=1.0)
    err.join(timeout=1.0)
    for reader, stream in ((out, proc.stdout), (err, proc.stderr)):
        if not reader.is_alive():
            with contextlib.suppress(OSError):
                stream.close()
