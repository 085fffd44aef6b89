"""Run untrusted Python (model-written code) in an isolated, resource-limited process and score it.

Two kinds of launch mode, probed once per process and interpreter (:func:`probe_isolation`):

- full isolation (``namespaces`` as root, ``userns`` otherwise): ``unshare`` gives the program its own
  pid, network, mount, IPC and UTS namespaces (plus a user namespace in ``userns``). Its root is a fresh
  tmpfs holding exactly the interpreter's prefixes and site-packages, the system library folders, a few
  device nodes and a size-capped scratch folder, all read-only except the scratch; ``pivot_root`` then
  detaches the host's tree, so the checkout, home folders and ``/etc`` are simply absent. The program
  runs under a fresh uid (as root) or with every capability dropped (user namespace). When the
  namespace's init ends, the kernel kills every process left in it.
- ``fallback`` (no namespaces, e.g. an HPC node without user namespaces): Landlock confines reads to the
  same folders and forbids writes everywhere but ``/dev/null`` and forbids TCP and signals outside the
  program; seccomp refuses new sockets and ``setsid``/``setpgid`` (so every child stays in the process
  group that is killed after the run); a zero file-size limit stops writes even without Landlock; as
  root the program runs under a fresh uid. Each layer is used where the kernel offers it.

Always: rlimits (CPU, address space, file size, processes, open files, no core), a wall-clock timeout
that kills the whole process group, a stripped environment, ``python -I``, output caps.

A pass means the harness saw the program complete. A runner (trusted code run first by the same
interpreter) reads a random token from a pipe, executes the program text in ``__main__``, and writes
the token to a second pipe only if the text ran to its end; the program passes only when that token
arrives and it exits 0. ``os._exit``, ``sys.exit``, ``atexit``, exception hooks, signals and closed
streams therefore all fail. Residual risk: a program written against this runner can still find the
token in its own process (by walking the runner's stack frame or reading its memory) and forge a pass.

Full isolation missing is refused (``on_missing="refuse"``, raises :class:`SandboxUnavailable`) or
accepted with a warning (``"warn"``); the default comes from ``GIFT_SANDBOX_ON_MISSING`` (``refuse``).
``GIFT_SANDBOX_MODES`` (comma-separated names) limits the modes the probe may choose.

Layout: ``gift.sandbox.layers`` holds the kernel layers (Landlock, seccomp, capabilities, uid cleanup),
``gift.sandbox.modes`` what the program sees and how each mode starts it (view, modes, boot script, runner),
``gift.sandbox.launch`` one run (rlimits, launch, output capture, cleanup); this module probes the host,
classifies how a run ended and runs a program (`gift.sandbox` names the seam the rest of the suite uses).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from gift.sandbox.launch import RawRun, run_once
from gift.sandbox.layers import landlock_abi, seccomp_program
from gift.sandbox.modes import (
    NS_TOOLS,
    Mode,
    SandboxUnavailable,
    candidate_modes,
    host_tool,
    mode_named,
)

log = logging.getLogger(__name__)

# Layers a full sandbox has; which of them the host gives is decided by `probe_isolation`.
FULL_ISOLATION = ("pid_namespace", "net_namespace", "mount_namespace", "minimal_root",
                  "privilege_drop_or_user_namespace")
STATUSES = ("passed", "failed", "incomplete", "timeout", "memory", "file_size", "output_limit", "killed", "error")
MODES = ("namespaces", "userns", "fallback")
ON_MISSING_VARIABLE = "GIFT_SANDBOX_ON_MISSING"


@dataclass
class ExecutionResult:
    """Outcome of one sandboxed run. `passed`: exit 0 within every limit and the runner saw the program end."""

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
    mode: str = ""
    completed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _works(mode: Mode, python: str) -> tuple[bool, str]:
    try:
        raw = run_once("print('sandbox-ok')", mode, python=python, timeout_s=10.0, memory_mb=512, file_size_mb=1,
                        max_processes=16, max_open_files=64, tmp_mb=8)
    except (OSError, SandboxUnavailable, subprocess.SubprocessError) as err:
        return False, str(err)
    ok = raw.returncode == 0 and raw.completed and raw.stdout.strip() == "sandbox-ok"
    return ok, f"rc={raw.returncode}: {raw.stderr.strip()[-300:]}"


@functools.lru_cache(maxsize=8)
def available_modes(python: str | None = None) -> tuple[str, ...]:
    """Names of the launch modes that run a program on this host with `python`, strongest first."""
    python = python or sys.executable
    names = []
    for mode in candidate_modes(python):
        ok, why = _works(mode, python)
        if ok:
            names.append(mode.name)
        else:
            log.info("sandbox mode %s unavailable with %s (%s)", mode.name, python, why)
    return tuple(names)


@functools.lru_cache(maxsize=8)
def probe_isolation(python: str | None = None) -> Mode:
    """The strongest launch mode that works on this host (tried once per process and interpreter)."""
    python = python or sys.executable
    for mode in candidate_modes(python):
        ok, why = _works(mode, python)
        if ok:
            if mode.missing:
                log.warning("sandbox mode %s (no full isolation; missing %s) for %s", mode.name,
                            ", ".join(mode.missing), python)
            else:
                log.info("sandbox mode %s: layers %s", mode.name, ", ".join(mode.layers))
            return mode
        log.info("sandbox mode %s unavailable with %s (%s)", mode.name, python, why)
    raise SandboxUnavailable(f"no way to run a sandboxed Python process on this host with {python}")


def isolation_report(python: str | None = None, all_modes: bool = False) -> dict:
    """The chosen mode, its layers, what full isolation would add, and the host's facts (for logs, results
    and health checks); with `all_modes`, also every mode that works here (each is tried once)."""
    python = python or sys.executable
    mode = probe_isolation(python)
    report = {"mode": mode.name, "full": not mode.missing, "layers": mode.layers, "missing": mode.missing,
              "python": python, "tools": {t: host_tool(t) for t in NS_TOOLS}, "landlock_abi": landlock_abi(),
              "seccomp": seccomp_program() is not None, "root": os.geteuid() == 0}
    if all_modes:
        report["available_modes"] = list(available_modes(python))
    return report


def missing_isolation_message(report: dict) -> str:
    """One message naming what is missing and the two ways forward."""
    return (f"the sandbox for model-written code cannot get full isolation on this host (mode {report['mode']}, "
            f"missing {', '.join(report['missing'])}; needs unshare, mount, pivot_root and setpriv, and "
            f"unprivileged user namespaces unless run as root). Either run where user namespaces are enabled "
            f"(`unshare --user --map-root-user true` works), or accept weaker containment explicitly: "
            f"set `sandbox: {{on_missing: warn}}` in the config or {ON_MISSING_VARIABLE}=warn.")


def require_isolation(on_missing: str | None = None, python: str | None = None) -> dict:
    """The isolation report, or :class:`SandboxUnavailable` when full isolation is missing and not accepted."""
    on_missing = on_missing or os.environ.get(ON_MISSING_VARIABLE) or "refuse"
    if on_missing not in {"refuse", "warn"}:
        raise ValueError(f"sandbox on_missing must be 'refuse' or 'warn', got {on_missing!r}")
    report = isolation_report(python)
    if report["missing"]:
        if on_missing == "refuse":
            raise SandboxUnavailable(missing_isolation_message(report))
        log.warning("sandbox: accepting weaker containment (mode %s, missing %s)", report["mode"],
                    ", ".join(report["missing"]))
    return report


_warned: set[str] = set()


def _check_layers(mode: Mode, on_missing: str) -> None:
    if not mode.missing:
        return
    msg = (f"sandbox isolation incomplete on this host: missing {', '.join(mode.missing)} "
           f"(mode {mode.name}); untrusted code would run with weaker containment")
    if on_missing == "refuse":
        raise SandboxUnavailable(msg + f"; set on_missing='warn' (or {ON_MISSING_VARIABLE}=warn) to accept")
    if on_missing != "warn":
        raise ValueError(f"on_missing must be 'refuse' or 'warn', got {on_missing!r}")
    if mode.name not in _warned:
        _warned.add(mode.name)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        log.warning("!!! %s", msg)


def _classify(raw: RawRun) -> str:
    if raw.returncode is None:
        return "error"
    if raw.flooded:
        return "output_limit"
    if raw.timed_out:
        return "timeout"
    if raw.returncode == 0:
        return "passed" if raw.completed else "incomplete"
    rc = raw.returncode
    # sh reports a child killed by signal N as 128 + N; unshare itself may die by the signal (negative).
    sig = -rc if rc < 0 else (rc - 128 if 128 < rc < 160 else None)
    tail = raw.stderr[-4000:]
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        return "memory"
    if sig == signal.SIGXCPU:
        return "timeout"
    if sig == signal.SIGXFSZ or "File too large" in tail:
        return "file_size"
    if sig is not None:
        return "killed"
    return "failed"


def execute(source: str, timeout_s: float = 10.0, memory_mb: int = 1024, *, file_size_mb: int = 16,
            max_processes: int = 32, max_open_files: int = 64, tmp_mb: int = 64, python: str | None = None,
            on_missing: str | None = None, mode: str | None = None) -> ExecutionResult:
    """Run `source` as a Python program (``__main__``) in the sandbox and report how it ended.

    `passed` is true only when the program's text ran to its end, it exited 0 and stayed within every
    limit. Never raises for anything the program does; raises :class:`SandboxUnavailable` when full
    isolation is missing and `on_missing` is "refuse" (default from ``GIFT_SANDBOX_ON_MISSING``, else
    "refuse"). `mode` forces one launch mode by name (tests and benchmarks).
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be str, got {type(source).__name__}")
    python = python or sys.executable
    on_missing = on_missing or os.environ.get(ON_MISSING_VARIABLE) or "refuse"
    chosen = mode_named(mode, python) if mode else probe_isolation(python)
    if mode is None:
        _check_layers(chosen, on_missing)
    raw = run_once(source, chosen, python=python, timeout_s=timeout_s, memory_mb=memory_mb,
                    file_size_mb=file_size_mb, max_processes=max_processes, max_open_files=max_open_files,
                    tmp_mb=tmp_mb)
    status = _classify(raw)
    return ExecutionResult(passed=status == "passed", status=status, returncode=raw.returncode, stdout=raw.stdout,
                           stderr=raw.stderr, duration_s=round(raw.duration_s, 4), isolation=chosen.layers,
                           missing_isolation=chosen.missing, stdout_truncated=raw.stdout_truncated,
                           stderr_truncated=raw.stderr_truncated, mode=chosen.name, completed=raw.completed)


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


__all__ = ["FULL_ISOLATION", "MODES", "ON_MISSING_VARIABLE", "STATUSES", "ExecutionResult", "available_modes", "execute", "isolation_report",
           "missing_isolation_message", "pass_at_1", "probe_isolation", "require_isolation",
           "status_counts"]
