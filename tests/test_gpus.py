"""Local GPU scheduling: concurrent jobs never share a device, and a killed job gives its devices back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gift import gpus

# A job that records which devices it got and when it ran.
JOB = (
    "import os, sys, time; t0 = time.time(); time.sleep(float(sys.argv[2])); "
    "open(sys.argv[1], 'a').write(f\"{os.environ['CUDA_VISIBLE_DEVICES']} {t0} {time.time()}\\n\")"
)


def _launch(tmp_path: Path, n: int, pool: str, log: Path, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "GIFT_GPUS": pool}
    env.pop("SLURM_JOB_ID", None)
    cmd = [sys.executable, "-m", "gift.cli", "gpus", "run", "--gpus", str(n), "--lock-dir", str(tmp_path / "locks"),
           "--", sys.executable, "-c", JOB, str(log), str(seconds)]
    return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)


def _intervals(log: Path) -> list[tuple[set[str], float, float]]:
    rows = []
    for line in log.read_text().splitlines():
        devices, start, end = line.split()
        rows.append((set(devices.split(",")), float(start), float(end)))
    return rows


def test_concurrent_jobs_never_share_a_gpu(tmp_path):
    log = tmp_path / "jobs.log"
    procs = [_launch(tmp_path, 1, "0,1", log, 1.0) for _ in range(4)]
    procs.append(_launch(tmp_path, 2, "0,1", log, 0.5))
    assert [p.wait(timeout=120) for p in procs] == [0] * 5
    rows = _intervals(log)
    assert len(rows) == 5
    assert {d for devices, _, _ in rows for d in devices} == {"0", "1"}
    assert sorted(len(devices) for devices, _, _ in rows) == [1, 1, 1, 1, 2]
    for i, (a_dev, a_start, a_end) in enumerate(rows):
        for b_dev, b_start, b_end in rows[i + 1:]:
            overlap = min(a_end, b_end) - max(a_start, b_start)
            if a_dev & b_dev:
                assert overlap <= 0, f"devices {a_dev & b_dev} shared by two running jobs"


def test_a_killed_job_releases_its_gpu(tmp_path):
    log = tmp_path / "jobs.log"
    holder = _launch(tmp_path, 1, "7", log, 60.0)
    lock = tmp_path / "locks" / "gpu-7.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (lock.exists() and gpus._try_lock(lock) is None):
        time.sleep(0.1)
    assert gpus._try_lock(lock) is None, "the running job should hold device 7"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    fd = gpus._try_lock(lock)
    assert fd is not None, "a SIGKILLed job must give its device back"
    os.close(fd)


def test_claim_is_all_or_none(tmp_path):
    with gpus.claim(1, ["0", "1"], tmp_path) as first:
        assert first == ["0"]
        with pytest.raises(TimeoutError), gpus.claim(2, ["0", "1"], tmp_path, timeout=0):
            pass
        # The failed two-device claim must not keep device 1 locked.
        with gpus.claim(1, ["0", "1"], tmp_path, timeout=0) as second:
            assert second == ["1"]


def test_more_gpus_than_the_machine_has_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="asks for 3 GPU"), gpus.claim(3, ["0", "1"], tmp_path):
        pass


def test_pool_order_of_precedence():
    assert gpus.device_pool({"GIFT_GPUS": "2,3", "CUDA_VISIBLE_DEVICES": "0"}) == ["2", "3"]
    assert gpus.device_pool({"CUDA_VISIBLE_DEVICES": "4, 5"}) == ["4", "5"]


def test_slurm_jobs_run_on_the_devices_slurm_gave(tmp_path):
    out = tmp_path / "env.txt"
    env = {"SLURM_JOB_ID": "1", "CUDA_VISIBLE_DEVICES": "0", "PATH": os.environ["PATH"]}
    rc = gpus.run([sys.executable, "-c", f"import os; open({str(out)!r}, 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])"],
                  1, env=env, lock_dir=tmp_path / "locks")
    assert rc == 0 and out.read_text() == "0"
    assert not (tmp_path / "locks").exists()


def test_exit_status_is_the_commands(tmp_path):
    env = {"GIFT_GPUS": "0", "PATH": os.environ["PATH"]}
    assert gpus.run([sys.executable, "-c", "raise SystemExit(3)"], 1, env=env, lock_dir=tmp_path) == 3
