"""gift.sandbox.runner: what the program sees, which mode is chosen (also for an interpreter under /tmp), how a pass
is decided, and what happens without full isolation. Hostile programs: tests/test_sandbox_matrix.py."""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gift.sandbox import modes
from gift.sandbox import runner as sandbox

REPORT = sandbox.isolation_report()
FULL = REPORT["full"]
requires_full = pytest.mark.skipif(not FULL, reason=f"host lacks isolation layers {REPORT['missing']}")
T = 3.0


def test_correct_solution_passes_and_wrong_one_fails():
    solution = "def add(a, b):\n    return a + b\n"
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
    ok = sandbox.execute(solution + tests, timeout_s=T)
    assert ok.passed and ok.status == "passed" and ok.returncode == 0 and ok.completed
    bad = sandbox.execute("def add(a, b):\n    return a - b\n" + tests, timeout_s=T)
    assert not bad.passed and bad.status == "failed" and not bad.completed
    assert "AssertionError" in bad.stderr


def test_program_runs_as_main_and_result_names_its_mode():
    r = sandbox.execute("import sys\nif __name__ == '__main__':\n    print('hi', sys.argv)\n", timeout_s=T)
    assert r.stdout == "hi ['main.py']\n"
    assert r.mode == REPORT["mode"] and r.isolation == REPORT["layers"]
    assert set(r.isolation) >= {"rlimits", "process_group", "stripped_env", "output_caps", "completion_token"}


def test_a_token_printed_by_the_program_is_not_a_pass():
    # The token never reaches the program's text or environment: guessing one does not forge a pass.
    r = sandbox.execute("import os, sys\nfor fd in range(3, 20):\n    try:\n        os.write(fd, b'0' * 16)\n"
                        "    except OSError:\n        pass\nprint(sorted(os.environ))\nos._exit(0)\n", timeout_s=T)
    assert r.status == "incomplete" and not r.passed
    assert "TOKEN" not in r.stdout.upper()


@requires_full
def test_minimal_view_holds_only_the_interpreter_libraries_devices_and_scratch():
    view = modes.interpreter_view(sys.executable)
    program = ("import os, json\n"
               "print(json.dumps({'root': sorted(os.listdir('/')), 'etc': sorted(os.listdir('/etc')),"
               " 'dev': sorted(os.listdir('/dev')), 'cwd': os.getcwd(), 'scratch': sorted(os.listdir('.'))}))\n"
               "open('mine.txt', 'w').write('scratch is writable')\n")
    r = sandbox.execute(program, timeout_s=T)
    assert r.passed, r.stderr
    import json

    seen = json.loads(r.stdout)
    tops = {p.strip("/").split("/")[0] for p in (*view.dirs, *view.files, *(link for link, _ in view.links))}
    assert set(seen["root"]) <= tops | {view.scratch.strip("/"), "dev", "proc", ".gift", ".oldroot"}
    assert not {"home", "work", "tmp", "var", "mnt", "opt"} & (set(seen["root"]) - tops)
    assert seen["etc"] == ["ld.so.cache"] or seen["etc"] == []
    assert set(seen["dev"]) <= {"null", "zero", "urandom", "random"}
    assert seen["cwd"] == view.scratch and seen["scratch"] == ["main.py"]


@requires_full
def test_reads_of_the_checkout_passwd_and_a_planted_file_get_nothing(tmp_path):
    planted = tmp_path / "planted.txt"
    planted.write_text("planted-secret-7f3a")
    tmp_path.chmod(0o755)
    planted.chmod(0o644)
    checkout = Path(__file__).resolve().parents[1] / "pyproject.toml"
    targets = ["/etc/passwd", str(checkout), str(planted), str(Path.home() / ".bashrc")]
    program = "got = {}\n" + "".join(
        f"try:\n    got[{t!r}] = open({t!r}).read()\nexcept OSError as e:\n    print(type(e).__name__)\n"
        for t in targets) + "print(got)\n"
    r = sandbox.execute(program, timeout_s=T)
    assert r.passed and r.stdout.splitlines()[-1] == "{}", r.stdout
    assert "planted-secret-7f3a" not in r.stdout and "root:" not in r.stdout and "[project]" not in r.stdout


@pytest.mark.parametrize("mode", [m for m in sandbox.available_modes() if m != "fallback"])
def test_exposed_interpreter_and_libraries_are_read_only(mode):
    # In `userns` the program is uid 0 of its namespace, which may be the host's root: only the read-only
    # mounts keep it from writing into the interpreter or the system libraries.
    view = modes.interpreter_view(sys.executable)
    name = f"gift-probe-{os.getpid()}"
    targets = [os.path.join(d, name) for d in view.dirs] + list(view.files) + ["/" + name]
    program = f"import errno\nfor p in {targets!r}:\n    try:\n        open(p, 'a').write('x')\n        print('WROTE', p)\n" \
              "    except OSError as e:\n        assert e.errno in (errno.EROFS, errno.EACCES), (p, e)\n"
    r = sandbox.execute(program, mode=mode, timeout_s=T)
    assert r.passed and "WROTE" not in r.stdout, r.stdout + r.stderr
    assert not any(os.path.exists(os.path.join(d, name)) for d in view.dirs)


def _venv_under_tmp() -> Path:
    """A fresh virtualenv under /tmp whose python is a symlink to this interpreter's base."""
    root = Path(tempfile.mkdtemp(prefix="gift-venv-test-", dir="/tmp"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True,
                   capture_output=True, timeout=120)
    return root


@pytest.mark.skipif(not FULL, reason="the host offers no namespace mode")
def test_interpreter_under_tmp_gets_full_isolation():
    root = _venv_under_tmp()
    try:
        python = str(root / "venv" / "bin" / "python")
        assert os.path.islink(python)
        view = modes.interpreter_view(python)
        assert str(root / "venv") in view.dirs
        mode = sandbox.probe_isolation(python)
        assert mode.name in {"namespaces", "userns"} and not mode.missing
        r = sandbox.execute("import sys, os\nprint(sys.prefix)\nprint(os.path.exists('/tmp/' + "
                            f"{root.name!r} + '/venv/pyvenv.cfg'))\nprint(sorted(os.listdir('/tmp')))\n",
                            python=python, timeout_s=T)
        assert r.passed and r.mode == mode.name, r.stderr
        prefix, cfg_seen, tmp_listing = r.stdout.splitlines()
        assert prefix == str(root / "venv") and cfg_seen == "True"
        assert tmp_listing == repr([root.name])  # only the interpreter's own folder, nothing else of /tmp
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_missing_isolation_is_refused_or_warned(monkeypatch, caplog):
    fallback = sandbox.mode_named("fallback")
    monkeypatch.setattr(sandbox, "probe_isolation", lambda python=None: fallback)
    with pytest.raises(sandbox.SandboxUnavailable, match="pid_namespace"):
        sandbox.execute("print(1)", timeout_s=T, on_missing="refuse")
    with pytest.raises(sandbox.SandboxUnavailable) as err:
        sandbox.require_isolation("refuse")
    message = str(err.value)
    assert "user namespaces" in message and "on_missing: warn" in message and "GIFT_SANDBOX_ON_MISSING" in message
    with caplog.at_level(logging.WARNING, logger="gift.sandbox.runner"):
        report = sandbox.require_isolation("warn")
    assert report["mode"] == "fallback" and not report["full"]
    assert any(rec.levelno == logging.WARNING and "fallback" in rec.getMessage() for rec in caplog.records)
    sandbox._warned.discard("fallback")
    with pytest.warns(RuntimeWarning, match="missing"):
        r = sandbox.execute("print(1)", timeout_s=T, on_missing="warn")
    assert r.passed and r.mode == "fallback" and "pid_namespace" in r.missing_isolation
    with pytest.raises(ValueError, match="refuse' or 'warn"):
        sandbox.require_isolation("maybe")


def test_report_lists_every_working_mode_with_the_chosen_one_first():
    report = sandbox.isolation_report(all_modes=True)
    assert report["available_modes"][0] == report["mode"] and "fallback" in report["available_modes"]
    assert report["full"] == (report["mode"] in {"namespaces", "userns"})


def test_bench_prints_the_overhead_table(capsys):
    from gift.bench import cli_sandbox as cli_bench

    assert cli_bench(["--n", "2", "--modes", "fallback"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split()[:2] == ["fallback", "2"] and lines[-1].endswith("x")


def test_each_mode_names_its_layers():
    modes = {m.name: m for m in sandbox.candidate_modes(sys.executable)}
    if "userns" in modes:
        assert "user_namespace" in modes["userns"].layers and not modes["userns"].missing
    if "namespaces" in modes:
        assert "privilege_drop" in modes["namespaces"].layers and not modes["namespaces"].missing
    assert {"pid_namespace", "mount_namespace", "minimal_root"} <= set(modes["fallback"].missing)


def test_modes_variable_limits_the_probe(monkeypatch):
    monkeypatch.setenv("GIFT_SANDBOX_MODES", "fallback")
    assert [m.name for m in sandbox.candidate_modes(sys.executable)] == ["fallback"]


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
