"""Run untrusted Python (model-written code) in an isolated, resource-limited process and score it.

Isolation is layered; each layer is probed once per process and every result says which it got:

- ``pid_namespace``: ``unshare --pid --fork --kill-child``; when the sandbox's init ends, the kernel kills
  every process in it, including children that called ``setsid`` or outlived their parent.
- ``net_namespace``: ``unshare --net``; only a downed loopback, so no socket reaches anything.
- ``mount_namespace``: every mount remounted read-only, fresh size-capped tmpfs on /tmp, /var/tmp and
  /dev/shm; the throwaway working directory lives in that tmpfs and vanishes with the namespace.
- ``user_namespace``: ``unshare -U -r`` when not root, which is what lets the layers above work unprivileged.
- ``privilege_drop``: as root, the program runs under a fresh unprivileged uid (``setpriv``), so the
  process-count limit applies and no root privilege reaches the program.
- always: rlimits (CPU time, address space, file size, processes, open files, no core), a wall-clock
  timeout that kills the whole process group, a stripped environment, ``python -I``, output caps.

A missing layer is refused (``on_missing="refuse"``, raises :class:`SandboxUnavailable`) or warned about
loudly (``"warn"``); the default comes from ``GIFT_SANDBOX_ON_MISSING`` (``refuse`` if unset).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import random
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)

# Layers a full sandbox has; which of them the host gives is decided by `probe_isolation`.
FULL_ISOLATION = ("pid_namespace", "net_namespace", "mount_namespace", "privilege_drop_or_user_namespace")
STATUSES = ("passed", "failed", "timeout", "memory", "file_size", "output_limit", "killed", "error")

_CAPTURE_BYTES = 64 * 1024  # kept of each stream
_FLOOD_BYTES = 4 * 1024 * 1024  # total output after which the program is killed as a flood
_UID_RANGE = (200_000, 260_000)  # fresh uids for dropped privileges; nothing on the host owns them


class SandboxUnavailable(RuntimeError):
    """The host cannot give an isolation layer that the caller requires."""


@dataclass
class ExecutionResult:
    """Outcome of one sandboxed run. `passed` is true only for exit status 0 within every limit."""

    passed: bool
    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: list[str] = field(default_factory=list)
    missing_isolation: list[str] = field(default_factory=list)
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Mode:
    """How to launch: which unshare flags, whether to remount, whether to drop to a fresh uid."""

    name: str
    unshare: tuple[str, ...]
    mounts: bool
    drop_uid: bool

    @property
    def layers(self) -> list[str]:
        out = []
        if "--pid" in self.unshare:
            out.append("pid_namespace")
        if "--net" in self.unshare:
            out.append("net_namespace")
        if self.mounts:
            out.append("mount_namespace")
        if "-U" in self.unshare:
            out.append("user_namespace")
        if self.drop_uid:
            out.append("privilege_drop")
        out += ["rlimits", "process_group", "stripped_env", "output_caps"]
        return out

    @property
    def missing(self) -> list[str]:
        have = set(self.layers)
        missing = [layer for layer in ("pid_namespace", "net_namespace", "mount_namespace") if layer not in have]
        if not ({"privilege_drop", "user_namespace"} & have):
            missing.append("privilege_drop_or_user_namespace")
        return missing


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")


def _candidate_modes() -> list[_Mode]:
    ns = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")
    modes = []
    if _tool("unshare"):
        if os.geteuid() == 0:
            if _tool("setpriv"):
                modes.append(_Mode("namespaces+drop", ns, mounts=True, drop_uid=True))
            modes.append(_Mode("namespaces", ns, mounts=True, drop_uid=False))
        else:
            modes.append(_Mode("userns", ("-U", "-r", *ns), mounts=True, drop_uid=False))
    if os.geteuid() == 0 and _tool("setpriv"):
        modes.append(_Mode("plain+drop", (), mounts=False, drop_uid=True))
    modes.append(_Mode("plain", (), mounts=False, drop_uid=False))
    return modes


# The sandbox's init (PID 1 when a pid namespace exists). It stays alive as the program's parent so the
# program never runs as PID 1 (which would ignore default-action signals such as SIGXCPU).
_BOOT_MOUNTS = r"""
set -e
for m in $(awk '{{print $5}}' /proc/self/mountinfo); do mount -o remount,bind,ro "$m" 2>/dev/null || true; done
mount -t tmpfs -o size={tmp_mb}m,mode=1777 tmpfs /tmp
mount -t tmpfs -o size=1m,mode=1777 tmpfs /var/tmp 2>/dev/null || true
mount -t tmpfs -o size=1m,mode=1777 tmpfs /dev/shm 2>/dev/null || true
mkdir /tmp/work
cat > /tmp/work/main.py
{chown}
cd /tmp/work
"""
_BOOT_RUN = r"""
set +e
{drop}{python} -I -B main.py < /dev/null
exit $?
"""


def _boot_script(mode: _Mode, python: str, tmp_mb: int, uid: int | None) -> str:
    drop = ""
    if mode.drop_uid and uid is not None:
        drop = (f"{shlex.quote(_tool('setpriv') or 'setpriv')} --reuid {uid} --regid {uid} --clear-groups "
                "--inh-caps=-all --no-new-privs ")
    head = ""
    if mode.mounts:
        chown = f"chown -R {uid}:{uid} /tmp/work" if (mode.drop_uid and uid is not None) else ""
        head = _BOOT_MOUNTS.format(tmp_mb=tmp_mb, chown=chown)
    return head + _BOOT_RUN.format(drop=drop, python=shlex.quote(python))


def _count_processes_of(uid: int) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    n += int(line.split()[1]) == uid
                    break
    return n


def _kill_uid(uid: int, rounds: int = 20) -> None:
    """SIGKILL every process whose real uid is `uid` (a fresh uid owns only the sandboxed program)."""
    for _ in range(rounds):
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                pids.append(int(entry))
                            break
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _limits(timeout_s: float, memory_mb: int, file_size_mb: int, max_processes: int, max_open_files: int,
            mode: _Mode) -> list[tuple[int, int]]:
    cpu = max(1, math.ceil(timeout_s))
    nproc = max_processes
    if os.geteuid() != 0 and not mode.drop_uid:
        # RLIMIT_NPROC counts every process of the real uid on the host, not only the sandbox's.
        nproc += _count_processes_of(os.getuid())
    mem = memory_mb * 1024 * 1024
    fsize = file_size_mb * 1024 * 1024
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (fsize, fsize)),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
        (resource.RLIMIT_NOFILE, (max_open_files, max_open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


def _stripped_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}


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


def _run_once(source: str, mode: _Mode, *, python: str, timeout_s: float, memory_mb: int, file_size_mb: int,
              max_processes: int, max_open_files: int, tmp_mb: int) -> tuple[int | None, str, str, bool, bool, bool,
                                                                           bool, float]:
    """Launch one program; returns (returncode, stdout, stderr, timed_out, flooded, out_trunc, err_trunc, s)."""
    uid = random.randint(*_UID_RANGE) if mode.drop_uid else None
    host_dir = None
    if mode.mounts:
        cwd, home = "/", "/tmp/work"
    else:
        host_dir = tempfile.mkdtemp(prefix="gift-sandbox-")
        with open(os.path.join(host_dir, "main.py"), "w", encoding="utf-8") as f:
            f.write(source)
        if uid is not None:
            os.chown(host_dir, uid, uid)
            os.chown(os.path.join(host_dir, "main.py"), uid, uid)
        cwd = home = host_dir
    script = _boot_script(mode, python, tmp_mb, uid)
    argv = ([_tool("unshare") or "unshare", *mode.unshare, "--"] if mode.unshare else []) + [
        _tool("sh") or "/bin/sh", "-c", script]
    limits = _limits(timeout_s, memory_mb, file_size_mb, max_processes, max_open_files, mode)

    def preexec() -> None:
        for which, value in limits:
            resource.setrlimit(which, value)

    flooded = threading.Event()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd, env=_stripped_env(home), start_new_session=True, preexec_fn=preexec,
                                close_fds=True)
    except OSError as err:
        if host_dir:
            shutil.rmtree(host_dir, ignore_errors=True)
        return None, "", f"sandbox could not start: {err}", False, False, False, False, 0.0

    def on_flood() -> None:
        flooded.set()
        _kill_group(proc)

    out = _Capture(proc.stdout, _CAPTURE_BYTES, on_flood)
    err = _Capture(proc.stderr, _CAPTURE_BYTES, on_flood)
    out.start()
    err.start()
    with contextlib.suppress(OSError):
        if mode.mounts:
            proc.stdin.write(source.encode("utf-8"))
        proc.stdin.close()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s + (0.5 if mode.mounts else 0.0))  # the boot's mounts take a moment
    except subprocess.TimeoutExpired:
        timed_out = not flooded.is_set()
        _kill_group(proc)
        proc.wait()
    duration = time.monotonic() - start
    # Without a pid namespace a daemonised child may outlive the run: kill its group, and every process of
    # the fresh uid when privileges were dropped; a reader still blocked on a pipe is left to its thread.
    _kill_group(proc)
    if uid is not None and "--pid" not in mode.unshare:
        _kill_uid(uid)
    out.join(timeout=1.0)
    err.join(timeout=1.0)
    for reader, stream in ((out, proc.stdout), (err, proc.stderr)):
        if not reader.is_alive():
            with contextlib.suppress(OSError):
                stream.close()
    if host_dir:
        shutil.rmtree(host_dir, ignore_errors=True)
    so, so_trunc = out.text()
    se, se_trunc = err.text()
    return proc.returncode, so, se, timed_out, flooded.is_set(), so_trunc, se_trunc, duration


@functools.lru_cache(maxsize=4)
def probe_isolation(python: str | None = None) -> _Mode:
    """The strongest launch mode that works on this host (tried once per process and interpreter)."""
    python = python or sys.executable
    for mode in _candidate_modes():
        rc, so, se, *_ = _run_once("print('sandbox-ok')", mode, python=python, timeout_s=10.0, memory_mb=512,
                                   file_size_mb=1, max_processes=16, max_open_files=64, tmp_mb=8)
        if rc == 0 and so.strip() == "sandbox-ok":
            log.info("sandbox mode %s: layers %s", mode.name, ", ".join(mode.layers))
            return mode
        log.info("sandbox mode %s unavailable (rc=%s): %s", mode.name, rc, se.strip()[-300:])
    raise SandboxUnavailable("no way to run a sandboxed Python process on this host")


def isolation_report(python: str | None = None) -> dict:
    """Which layers this host gives and which are missing, for logs and result files."""
    mode = probe_isolation(python or sys.executable)
    return {"mode": mode.name, "layers": mode.layers, "missing": mode.missing}


_warned: set[str] = set()


def _check_layers(mode: _Mode, on_missing: str) -> None:
    if not mode.missing:
        return
    msg = (f"sandbox isolation incomplete on this host: missing {', '.join(mode.missing)} "
           f"(mode {mode.name}); untrusted code would run with weaker containment")
    if on_missing == "refuse":
        raise SandboxUnavailable(msg + "; set on_missing='warn' (or GIFT_SANDBOX_ON_MISSING=warn) to accept")
    if on_missing != "warn":
        raise ValueError(f"on_missing must be 'refuse' or 'warn', got {on_missing!r}")
    if mode.name not in _warned:
        _warned.add(mode.name)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        log.warning("!!! %s", msg)


def _classify(returncode: int | None, stderr: str, timed_out: bool, flooded: bool) -> str:
    if returncode is None:
        return "error"
    if flooded:
        return "output_limit"
    if timed_out:
        return "timeout"
    if returncode == 0:
        return "passed"
    # sh reports a child killed by signal N as 128 + N; unshare itself may die by the signal (negative).
    sig = -returncode if returncode < 0 else (returncode - 128 if 128 < returncode < 160 else None)
    if "MemoryError" in stderr[-4000:] or "Cannot allocate memory" in stderr[-4000:]:
        return "memory"
    if sig == signal.SIGXCPU:
        return "timeout"
    if sig == signal.SIGXFSZ:
        return "file_size"
    if sig is not None:
        return "killed"
    return "failed"


def execute(source: str, timeout_s: float = 10.0, memory_mb: int = 1024, *, file_size_mb: int = 16,
            max_processes: int = 32, max_open_files: int = 64, tmp_mb: int = 64, python: str | None = None,
            on_missing: str | None = None) -> ExecutionResult:
    """Run `source` as a Python program in the sandbox and report how it ended.

    `passed` is true only when the program exits 0 within every limit. Never raises for anything the
    program does; raises :class:`SandboxUnavailable` only when a layer is missing and `on_missing` is
    "refuse" (default from ``GIFT_SANDBOX_ON_MISSING``, else "refuse").
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be str, got {type(source).__name__}")
    python = python or sys.executable
    on_missing = on_missing or os.environ.get("GIFT_SANDBOX_ON_MISSING", "refuse")
    mode = probe_isolation(python)
    _check_layers(mode, on_missing)
    rc, so, se, timed_out, flooded, so_trunc, se_trunc, duration = _run_once(
        source, mode, python=python, timeout_s=timeout_s, memory_mb=memory_mb, file_size_mb=file_size_mb,
        max_processes=max_processes, max_open_files=max_open_files, tmp_mb=tmp_mb)
    status = _classify(rc, se, timed_out, flooded)
    return ExecutionResult(passed=status == "passed", status=status, returncode=rc, stdout=so, stderr=se,
                           duration_s=round(duration, 4), isolation=mode.layers, missing_isolation=mode.missing,
                           stdout_truncated=so_trunc, stderr_truncated=se_trunc)


def pass_at_1(results: Iterable[ExecutionResult | bool]) -> tuple[float, float, int]:
    """pass@1 in percent over single samples, its standard error (sample std / sqrt(n)) and n."""
    flags = [bool(r.passed if isinstance(r, ExecutionResult) else r) for r in results]
    n = len(flags)
    if n == 0:
        return float("nan"), float("nan"), 0
    p = sum(flags) / n
    se = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else float("nan")
    return 100.0 * p, 100.0 * se, n


def status_counts(results: Sequence[ExecutionResult]) -> dict[str, int]:
    """How many results ended in each status (for reports)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts
