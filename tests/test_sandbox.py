"""Hostile programs stay contained in gift.sandbox and score as failed; correct programs pass."""

from __future__ import annotations

import math
import os
import random
import socket
import subprocess
import time

import pytest

from gift import sandbox

REPORT = sandbox.isolation_report()
FULL = not REPORT["missing"]
requires_full = pytest.mark.skipif(not FULL, reason=f"host lacks isolation layers {REPORT['missing']}")

T = 3.0  # short timeouts keep the hostile tests fast


def _token() -> str:
    # A unique sleep duration marks processes a hostile program leaves behind, visible in host /proc.
    return f"{random.randint(40, 90)}.{random.randint(10**8, 10**9 - 1)}"


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


def test_correct_solution_passes_and_wrong_one_fails():
    solution = "def add(a, b):\n    return a + b\n"
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
    ok = sandbox.execute(solution + tests, timeout_s=T)
    assert ok.passed and ok.status == "passed" and ok.returncode == 0
    bad = sandbox.execute("def add(a, b):\n    return a - b\n" + tests, timeout_s=T)
    assert not bad.passed and bad.status == "failed"
    assert "AssertionError" in bad.stderr


def test_result_names_its_isolation_layers():
    r = sandbox.execute("print('hi')", timeout_s=T)
    assert r.stdout == "hi\n"
    assert set(r.isolation) >= {"rlimits", "process_group", "stripped_env", "output_caps"}
    assert r.isolation == REPORT["layers"]


@requires_full
def test_writes_outside_the_working_directory_have_no_effect(tmp_path):
    tmp_path.chmod(0o777)
    targets = [tmp_path / "escaped.txt", "/etc/gift-sandbox-escaped", os.path.join(os.getcwd(), "gift-escaped")]
    program = "written = []\n"
    for t in targets:
        program += (f"try:\n    open({str(t)!r}, 'w').write('x')\n    written.append({str(t)!r})\n"
                    "except OSError as e:\n    print('blocked', e)\n")
    program += "open('inside.txt', 'w').write('fine')\nassert written, 'nothing escaped'\n"
    r = sandbox.execute(program, timeout_s=T)
    assert not r.passed and r.status == "failed"
    for t in targets:
        assert not os.path.exists(t), t


@requires_full
def test_parent_environment_is_not_visible(monkeypatch):
    secret = f"s3cr3t-{random.randint(10**9, 10**10)}"
    monkeypatch.setenv("GIFT_TEST_SECRET", secret)
    program = (
        "import os\n"
        "dump = repr(dict(os.environ))\n"
        "for pid in ['1', str(os.getppid()), 'self']:\n"
        "    try:\n"
        "        dump += open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace')\n"
        "    except OSError as e:\n"
        "        dump += f'<{e}>'\n"
        "print(dump)\n"
        "assert 'GIFT_TEST_SECRET' in dump\n"
    )
    r = sandbox.execute(program, timeout_s=T)
    assert not r.passed and r.status == "failed"
    assert secret not in r.stdout + r.stderr
    assert "GIFT_TEST_SECRET" not in r.stdout


@requires_full
def test_socket_to_a_loopback_listener_cannot_connect():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    program = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'leak')\n"
    try:
        r = sandbox.execute(program, timeout_s=T)
        assert not r.passed and r.status == "failed"
        assert "Error" in r.stderr
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


@requires_full
def test_fork_bomb_is_contained_and_leaves_nothing_behind():
    token = _token()
    program = (
        "import os\n"
        "for _ in range(10000):\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        f"        os.execv('/bin/sleep', ['sleep', {token!r}])\n"
    )
    start = time.monotonic()
    r = sandbox.execute(program, timeout_s=T, max_processes=16)
    assert time.monotonic() - start < T + 5
    assert not r.passed
    time.sleep(0.2)
    assert _processes_with(token) == []


def test_memory_bomb_is_stopped_by_the_address_space_limit():
    r = sandbox.execute("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", timeout_s=T, memory_mb=256)
    assert not r.passed and r.status == "memory"
    assert r.duration_s < T + 1


def test_infinite_loop_times_out():
    start = time.monotonic()
    r = sandbox.execute("while True:\n    pass\n", timeout_s=1.0)
    assert not r.passed and r.status == "timeout"
    assert time.monotonic() - start < 4


def test_sleeping_past_the_wall_clock_timeout():
    r = sandbox.execute("import time\ntime.sleep(30)\n", timeout_s=1.0)
    assert r.status == "timeout" and r.duration_s < 4


@requires_full
def test_killing_its_parent_or_everyone_leaves_the_host_untouched():
    sentinel = subprocess.Popen(["sleep", "30"])
    try:
        program = ("import os, signal\n"
                   "for target in (os.getppid(), -1, 1):\n"
                   "    try:\n"
                   "        os.kill(target, signal.SIGKILL)\n"
                   "    except OSError as e:\n"
                   "        print('refused', target, e)\n"
                   "os.killpg(0, signal.SIGKILL)\n")
        r = sandbox.execute(program, timeout_s=T)
        assert not r.passed and r.status in {"killed", "failed"}
        assert sentinel.poll() is None, "a host process was killed"
        os.kill(os.getpid(), 0)
    finally:
        sentinel.kill()
        sentinel.wait()


def test_stdout_flood_is_cut_and_capped():
    start = time.monotonic()
    r = sandbox.execute("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", timeout_s=5.0)
    assert not r.passed and r.status == "output_limit"
    assert r.stdout_truncated and len(r.stdout) <= 64 * 1024
    assert time.monotonic() - start < 4


@requires_full
def test_child_outliving_its_parent_is_killed():
    token = _token()
    program = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', {token!r}])\n"
        "    os._exit(0)\n"
        "sys.exit(1)\n"
    )
    r = sandbox.execute(program, timeout_s=1.0)
    assert not r.passed
    time.sleep(0.2)
    assert _processes_with(token) == []


def test_file_size_limit():
    r = sandbox.execute("open('big', 'wb').write(b'x' * (4 * 1024 * 1024))\n", timeout_s=T, file_size_mb=1)
    assert not r.passed and r.status in {"file_size", "failed"}


def test_missing_layers_are_refused_or_warned(monkeypatch):
    plain = sandbox._Mode("plain", (), mounts=False, drop_uid=False)
    monkeypatch.setattr(sandbox, "probe_isolation", lambda python=None: plain)
    with pytest.raises(sandbox.SandboxUnavailable, match="pid_namespace"):
        sandbox.execute("print(1)", timeout_s=T, on_missing="refuse")
    sandbox._warned.discard("plain")
    with pytest.warns(RuntimeWarning, match="missing"):
        r = sandbox.execute("print(1)", timeout_s=T, on_missing="warn")
    assert r.passed and "pid_namespace" in r.missing_isolation


def test_pass_at_1_matches_a_hand_computation():
    flags = [True, False, True, True]
    value, se, n = sandbox.pass_at_1(flags)
    p = 3 / 4
    assert n == 4 and value == pytest.approx(75.0)
    # sample standard deviation (ddof=1) of the 0/1 outcomes divided by sqrt(n)
    mean = sum(flags) / 4
    sd = math.sqrt(sum((f - mean) ** 2 for f in flags) / 3)
    assert se == pytest.approx(100 * sd / 2)
    assert se == pytest.approx(100 * math.sqrt(p * (1 - p) / 3))
    assert math.isnan(sandbox.pass_at_1([])[0])


def test_signal_kill_is_reported_as_killed():
    r = sandbox.execute("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", timeout_s=T)
    assert r.status == "killed" and not r.passed


@pytest.mark.skipif(os.geteuid() != 0, reason="the fresh-uid fallback needs root")
def test_fallback_without_namespaces_still_kills_an_orphan_by_its_fresh_uid(monkeypatch):
    mode = sandbox._Mode("plain+drop", (), mounts=False, drop_uid=True)
    monkeypatch.setattr(sandbox, "probe_isolation", lambda python=None: mode)
    token = _token()
    program = ("import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
               f"        os.execv('/bin/sleep', ['sleep', {token!r}])\n    os._exit(0)\nsys.exit(1)\n")
    with pytest.warns(RuntimeWarning):
        r = sandbox.execute(program, timeout_s=1.0, on_missing="warn")
    assert not r.passed and "privilege_drop" in r.isolation
    time.sleep(0.2)
    assert _processes_with(token) == []
