"""One machine, several GPUs, one job per GPU: a job claims free devices with file locks and runs with
CUDA_VISIBLE_DEVICES set to them.

Snakemake counts a `gpu` resource (`--resources gpu=8`) so that no more jobs run than there are GPUs, but
it does not say which device a job may use. `gift gpus run --gpus K -- COMMAND...` does: it takes the first
K devices of the pool whose lock files it can lock, all or none (so two jobs never hold half of each other's
devices), runs COMMAND with CUDA_VISIBLE_DEVICES naming them, and releases them when COMMAND ends. The locks
are kernel file locks: a job killed with SIGKILL releases its devices too.

The pool is GIFT_GPUS (a comma-separated list of device ids) when set, else the devices the parent may see
(CUDA_VISIBLE_DEVICES), else those `nvidia-smi -L` lists. Under Slurm the scheduler has already given the job
its devices, and the command runs unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from gift.cli import HelpFormatter

POLL_SECONDS = 2.0


def device_pool(env: Mapping[str, str] | None = None) -> list[str]:
    """The device ids jobs on this machine may claim, in order."""
    env = os.environ if env is None else env
    for key in ("GIFT_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = env.get(key)
        if value is not None and value.strip():
            return [d.strip() for d in value.split(",") if d.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def default_lock_dir() -> Path:
    """Per machine (device ids are per machine), shared by every workflow of this user on it."""
    return Path(tempfile.gettempdir()) / f"gift-gpu-locks-{os.getuid()}-{socket.gethostname()}"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _release(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def claim(n: int, pool: list[str], lock_dir: Path, timeout: float | None = None) -> Iterator[list[str]]:
    """Hold n devices of the pool (all or none at each try) until the block ends."""
    if n < 1:
        yield []
        return
    if n > len(pool):
        raise SystemExit(
            f"gift gpus: a job asks for {n} GPU(s) but this machine offers {len(pool)} ({','.join(pool) or 'none'}); "
            "set GIFT_GPUS or CUDA_VISIBLE_DEVICES, or lower the job's gpu count in the config"
        )
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while True:
        held: list[tuple[str, int]] = []
        for device in pool:
            fd = _try_lock(lock_dir / f"gpu-{device}.lock")
            if fd is not None:
                held.append((device, fd))
                if len(held) == n:
                    break
        if len(held) == n:
            try:
                yield [d for d, _ in held]
            finally:
                _release([fd for _, fd in held])
            return
        _release([fd for _, fd in held])
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"gift gpus: no {n} free GPU(s) of {','.join(pool)} within {timeout:.0f} s")
        if not waited:
            print(f"gift gpus: waiting for {n} free GPU(s) of {','.join(pool)} (locks in {lock_dir})", file=sys.stderr)
            waited = True
        time.sleep(POLL_SECONDS)


def run(command: list[str], n: int, env: Mapping[str, str] | None = None, lock_dir: Path | None = None) -> int:
    """Run command on n claimed devices; its exit status (128 + signal when it was killed by one)."""
    env = dict(os.environ if env is None else env)
    if n < 1 or ("SLURM_JOB_ID" in env and "GIFT_GPUS" not in env):
        return subprocess.call(command, env=env)
    with claim(n, device_pool(env), lock_dir or default_lock_dir()) as devices:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        print(f"gift gpus: CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}", file=sys.stderr, flush=True)
        child = subprocess.Popen(command, env=env)
        forward = lambda signum, _frame: child.send_signal(signum)  # noqa: E731
        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            rc = child.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 128 - rc if rc < 0 else rc


def cli(argv: list[str]) -> int:
    """`gift gpus run [--gpus K] [--lock-dir DIR] -- COMMAND...`"""
    options, command = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift gpus run", description=__doc__.split("\n\n")[0],
                                     usage="gift gpus run [--gpus K] [--lock-dir DIR] -- COMMAND [ARGS...]")
    parser.add_argument("--gpus", type=int, default=1, help="devices the command needs (0: run it as is)")
    parser.add_argument("--lock-dir", type=Path, default=None, help="where the per-device lock files live")
    args = parser.parse_args(options)
    if not command:
        parser.error("give the command after --")
    return run(command, args.gpus, lock_dir=args.lock_dir)
