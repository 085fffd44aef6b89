"""Hostile programs in every sandbox mode this host offers: each case asserts how the program ended and
that the host saw nothing of it (no process left, no file written, no byte received, no signal)."""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gift.sandbox import runner as sandbox

MODES = sandbox.available_modes()
T = 2.0  # short limits keep the matrix fast
CHECKOUT_FILE = str(Path(__file__).resolve())


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


# A long-lived process marked by its argv; the interpreter is the one binary every mode lets the program run.
_SLEEPER = "(lambda t: os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', t]))"


def _sleep_token() -> str:
    # A unique sleep duration marks processes a hostile program leaves behind, visible in host /proc.
    return f"{random.randint(40, 90)}.{random.randint(10**8, 10**9 - 1)}"


@dataclass
class Case:
    """A hostile program, the statuses it may end in, and a check of the host after it ran."""

    program: Callable[[dict], str]
    statuses: set[str]
    limits: dict = field(default_factory=dict)
    setup: Callable[[dict, Path], None] | None = None
    check: Callable[[sandbox.ExecutionResult, dict], None] | None = None
    stdout: str | None = None


# ---------------------------------------------------------------------------- host-side fixtures per case

def _listener(kind: str) -> Callable[[dict, Path], None]:
    def setup(ctx: dict, tmp: Path) -> None:
        if kind == "unix":
            path = tmp / "s"
            tmp.chmod(0o777)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(str(path))
            path.chmod(0o777)
            s.listen(1)
            ctx["address"] = str(path)
        elif kind == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            ctx["address"] = s.getsockname()[1]
        else:
            family, host = (socket.AF_INET6, "::1") if kind == "tcp6" else (socket.AF_INET, "127.0.0.1")
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))
            s.listen(1)
            ctx["address"] = s.getsockname()[1]
        s.settimeout(0.3)
        ctx["socket"] = s

    return setup


def _nothing_received(result: sandbox.ExecutionResult, ctx: dict) -> None:
    s = ctx["socket"]
    try:
        if s.type == socket.SOCK_DGRAM:
            with pytest.raises(socket.timeout):
                s.recvfrom(100)
        else:
            with pytest.raises(socket.timeout):
                s.accept()
    finally:
        s.close()


def _no_process_left(result: sandbox.ExecutionResult, ctx: dict) -> None:
    time.sleep(0.2)
    assert _processes_with(ctx["sleep"]) == []


def _plant(ctx: dict, tmp: Path) -> None:
    tmp.chmod(0o755)
    planted = tmp / "planted.txt"
    planted.write_text(ctx["secret"])
    planted.chmod(0o644)
    ctx["planted"] = str(planted)


def _secret_unseen(result: sandbox.ExecutionResult, ctx: dict) -> None:
    assert ctx["secret"] not in result.stdout + result.stderr
    assert "root:" not in result.stdout  # /etc/passwd's first line
    assert "Hostile programs in every sandbox mode" not in result.stdout + result.stderr


def _writable_targets(ctx: dict, tmp: Path) -> None:
    tmp.chmod(0o777)
    name = f"gift-escape-{ctx['secret']}"
    ctx["targets"] = [f"/tmp/{name}", f"/dev/shm/{name}", f"/var/tmp/{name}", str(tmp / name),
                      str(Path(CHECKOUT_FILE).parent / name)]


def _nothing_written(result: sandbox.ExecutionResult, ctx: dict) -> None:
    leaked = [t for t in ctx["targets"] if os.path.exists(t)]
    for t in leaked:
        os.unlink(t)
    assert leaked == []


def _sentinel(ctx: dict, tmp: Path) -> None:
    ctx["sentinel"] = subprocess.Popen(["sleep", "30"])
    ctx["harness"] = os.getpid()


def _host_untouched(result: sandbox.ExecutionResult, ctx: dict) -> None:
    sentinel = ctx["sentinel"]
    try:
        assert sentinel.poll() is None, "a host process was killed"
        os.kill(os.getpid(), 0)
    finally:
        sentinel.kill()
        sentinel.wait()


# ---------------------------------------------------------------------------- the cases

CASES: dict[str, Case] = {
    "correct_program": Case(lambda c: "def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')\n",
                            {"passed"}, stdout="ok\n"),
    "infinite_loop": Case(lambda c: "while True:\n    pass\n", {"timeout"}, {"timeout_s": 0.5}),
    "sleep_past_timeout": Case(lambda c: "import time\ntime.sleep(30)\n", {"timeout"}, {"timeout_s": 0.5}),
    "memory_bomb": Case(lambda c: "x = []\nwhile True:\n    x.append(bytearray(10**7))\n", {"memory"},
                        {"memory_mb": 256}),
    "fork_bomb": Case(lambda c: ("import os, sys\nfor _ in range(10000):\n    try:\n        os.fork()\n"
                                 f"    except OSError:\n        {_SLEEPER}({c['sleep']!r})\n"),
                      {"failed", "killed", "timeout", "memory"}, {"max_processes": 16, "timeout_s": 1.0},
                      check=_no_process_left),
    # The grandchild (in a new session where allowed) reports through a pipe before it becomes a long sleeper,
    # so the program ends only once the daemon surely runs.
    "daemon_outlives_call": Case(
        lambda c: ("import os, sys\nr, w = os.pipe()\nif os.fork() == 0:\n    try:\n        os.setsid()\n"
                   "    except OSError:\n        pass\n    if os.fork() == 0:\n        os.write(w, b'up')\n"
                   f"        {_SLEEPER}({c['sleep']!r})\n    os._exit(0)\nos.wait()\n"
                   "print('daemon', os.read(r, 2).decode())\n"),
        {"passed"}, check=_no_process_left, stdout="daemon up\n"),
    "thread_bomb": Case(lambda c: ("import threading, time\nfor i in range(100000):\n"
                                   "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"),
                        {"failed", "memory"}),
    "output_flood": Case(lambda c: "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", {"output_limit"},
                         {"timeout_s": 5.0}),
    "invalid_utf8_output": Case(lambda c: "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x80 ok\\n')\n", {"passed"},
                                stdout="\ufffd\ufffd\ufffd ok\n"),
    "disk_fill": Case(lambda c: ("import os\nwith open('fill', 'wb') as f:\n    for _ in range(1000):\n"
                                 "        f.write(b'x' * 2**20)\n        f.flush()\n"),
                      {"failed", "file_size"}, {"tmp_mb": 8, "file_size_mb": 512}),
    "writes_outside": Case(lambda c: ("written = []\n" + "".join(
        f"try:\n    open({t!r}, 'w').write('x')\n    written.append({t!r})\nexcept OSError as e:\n    print('blocked', e)\n"
        for t in c["targets"]) + "assert written, 'nothing escaped'\n"),
        {"failed"}, setup=_writable_targets, check=_nothing_written),
    "reads_outside": Case(lambda c: ("got = []\n" + "".join(
        f"try:\n    got.append(open({p!r}).read())\nexcept OSError as e:\n    print('blocked', type(e).__name__)\n"
        for p in ("/etc/passwd", CHECKOUT_FILE, c["planted"])) + "print(got)\nassert got, 'nothing read'\n"),
        {"failed"}, setup=_plant, check=_secret_unseen),
    "signals_to_parent": Case(lambda c: (
        "import os, signal\n"
        f"for target in (os.getppid(), 1, {c['harness']}, {c['sentinel'].pid}, -1):\n"
        "    try:\n        os.kill(target, signal.SIGKILL)\n    except OSError as e:\n        print('refused', target, e)\n"
        "os.killpg(0, signal.SIGKILL)\n"), {"killed", "failed", "incomplete"}, setup=_sentinel, check=_host_untouched),
    "setrlimit_back_up": Case(lambda c: (
        "import resource\nraised = []\nfor r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CPU):\n"
        "    try:\n        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "        raised.append(r)\n    except (ValueError, OSError) as e:\n        print('refused', r)\n"
        "assert raised, 'no limit could be raised'\n"), {"failed"}),
    "socket_tcp": Case(lambda c: ("import socket\n"
                                  f"s = socket.create_connection(('127.0.0.1', {c['address']}), timeout=1)\n"
                                  "s.sendall(b'leak')\n"), {"failed"}, setup=_listener("tcp"), check=_nothing_received),
    "socket_udp": Case(lambda c: ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                  f"s.sendto(b'leak', ('127.0.0.1', {c['address']}))\n"
                                  "s.sendto(b'leak', ('192.0.2.1', 9))\n"),
                       {"failed"}, setup=_listener("udp"), check=_nothing_received),
    "socket_ipv6": Case(lambda c: ("import socket\n"
                                   f"s = socket.create_connection(('::1', {c['address']}), timeout=1)\n"
                                   "s.sendall(b'leak')\n"), {"failed"}, setup=_listener("tcp6"),
                        check=_nothing_received),
    "socket_unix": Case(lambda c: ("import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                                   f"s.connect({c['address']!r})\ns.sendall(b'leak')\n"),
                        {"failed"}, setup=_listener("unix"), check=_nothing_received),
    # The early-exit family: each ends before (or instead of) its failing assert; none may pass.
    "exit_os__exit_0": Case(lambda c: "import os\nos._exit(0)\nassert False\n", {"incomplete"}),
    "exit_sys_exit_0": Case(lambda c: "import sys\nsys.exit(0)\nassert False\n", {"incomplete"}),
    "exit_atexit": Case(lambda c: "import atexit, os\natexit.register(lambda: os._exit(0))\nassert False\n",
                        {"incomplete"}),
    "exit_excepthook": Case(lambda c: "import os, sys\nsys.excepthook = lambda *a: os._exit(0)\nassert False\n",
                            {"incomplete"}),
    "exit_systemexit_in_test": Case(lambda c: ("def check():\n    raise SystemExit(0)\ncheck()\nassert False\n"),
                                    {"incomplete"}),
    "exit_close_stdout": Case(lambda c: "import os, sys\nos.close(1)\nos.close(2)\nassert False\n",
                              {"failed", "incomplete"}),
    "exit_close_stdout_then_exit_0": Case(lambda c: "import os\nos.close(1)\nos._exit(0)\nassert False\n",
                                          {"incomplete"}),
    "exit_kill_itself": Case(lambda c: "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nassert False\n",
                             {"killed"}),
    "exit_thread_os__exit": Case(lambda c: ("import os, threading, time\n"
                                            "threading.Thread(target=lambda: os._exit(0)).start()\n"
                                            "time.sleep(5)\nassert False\n"), {"incomplete"}),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_program(case: str, mode: str, tmp_path: Path) -> None:
    spec = CASES[case]
    ctx: dict = {"sleep": _sleep_token(), "secret": secrets.token_hex(8)}
    if spec.setup:
        spec.setup(ctx, tmp_path)
    limits = {"timeout_s": T, **spec.limits}
    start = time.monotonic()
    result = sandbox.execute(spec.program(ctx), mode=mode, **limits)
    elapsed = time.monotonic() - start
    if os.environ.get("GIFT_SANDBOX_MATRIX_OUT"):  # the table of outcomes, for the record
        with open(os.environ["GIFT_SANDBOX_MATRIX_OUT"], "a") as f:
            f.write(json.dumps({"case": case, "mode": mode, "status": result.status, "rc": result.returncode,
                                "stdout": result.stdout[-300:], "stderr": result.stderr[-300:]}) + "\n")
    if spec.check:
        spec.check(result, ctx)
    assert result.status in spec.statuses, (result.status, result.stdout[-500:], result.stderr[-1500:])
    assert result.passed == (spec.statuses == {"passed"})
    assert result.mode == mode
    if spec.stdout is not None:
        assert result.stdout == spec.stdout
    if case == "output_flood":
        assert result.stdout_truncated and len(result.stdout) <= 64 * 1024
    assert elapsed < limits["timeout_s"] + 6


def test_the_matrix_covers_every_mode_this_host_offers():
    assert MODES, "no sandbox mode works on this host"
    assert MODES[-1] == "fallback"
    if sandbox.isolation_report()["full"]:
        assert MODES[0] in {"namespaces", "userns"}
