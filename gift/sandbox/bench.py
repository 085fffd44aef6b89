"""`gift bench sandbox`: the sandbox's overhead per program against a plain subprocess, on a batch of small
MBPP-shaped programs (a function and its three asserts), in each launch mode this host offers.

Each program runs once plainly (``python -I -B main.py`` in a temporary folder, no limits, no isolation)
and once per mode; the order within a program alternates (plain first, then last) so that drift in the
machine's speed hits both alike. Reported per mode: median wall time per program of each, the median of
the paired differences (the overhead) with its 10th-90th percentiles, and the median paired ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gift.cli_help import HelpFormatter


def programs(n: int, seed: int = 0) -> list[str]:
    """`n` small programs: reference solutions of synthetic MBPP problems followed by their asserts."""
    from gift.evals.lm_eval.twins import generate

    rows: list[dict] = []
    while len(rows) < n:
        rows += generate(seed + len(rows), min(500, n))["mbpp"]["test"]
    return [r["code"] + "\n" + "\n".join(r["test_list"][:3]) + "\n" for r in rows[:n]]


def _plain(source: str, python: str, folder: Path) -> float:
    start = time.perf_counter()
    (folder / "main.py").write_text(source, encoding="utf-8")
    proc = subprocess.run([python, "-I", "-B", "main.py"], cwd=folder, capture_output=True, timeout=60, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"a benchmark program failed plainly: {proc.stderr.decode()[-300:]}")
    return elapsed


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def bench(n: int, modes: list[str], python: str, progress: bool = True) -> dict:
    """Paired timings of `n` programs, plain and in each mode; returns the summary per mode."""
    from gift.sandbox import runner as sandbox

    batch = programs(n)
    for mode in modes:  # warm: the interpreter's view and the probe are computed once per process
        sandbox.execute("pass", mode=mode, python=python)
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="gift-bench-plain-") as tmp:
        folder = Path(tmp)
        start = time.monotonic()
        for i, source in enumerate(batch):
            for mode in modes:
                if i % 2 == 0:
                    plain = _plain(source, python, folder)
                t0 = time.perf_counter()
                result = sandbox.execute(source, mode=mode, python=python, timeout_s=30.0)
                boxed = time.perf_counter() - t0
                if i % 2 == 1:
                    plain = _plain(source, python, folder)
                if not result.passed:
                    raise RuntimeError(f"a benchmark program failed in mode {mode}: {result.stderr[-300:]}")
                times[mode].append((plain, boxed))
            if progress and (i + 1) % 50 == 0:
                print(f"  {i + 1}/{n} programs ({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
    summary = {}
    for mode, pairs in times.items():
        plain = [p for p, _ in pairs]
        boxed = [b for _, b in pairs]
        diff = [b - p for p, b in pairs]
        ratio = [b / p for p, b in pairs]
        summary[mode] = {"n": len(pairs), "plain_median_s": statistics.median(plain),
                         "sandbox_median_s": statistics.median(boxed), "overhead_median_s": statistics.median(diff),
                         "overhead_p10_s": _quantile(diff, 0.1), "overhead_p90_s": _quantile(diff, 0.9),
                         "ratio_median": statistics.median(ratio)}
    return summary


def cli_bench(argv: list[str]) -> int:
    """``gift bench sandbox``: print the overhead table (and write it as JSON with --out)."""
    from gift.sandbox import runner as sandbox

    p = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift bench sandbox", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=974, help="programs in the batch (MBPP's full set has 974)")
    p.add_argument("--modes", help="comma-separated modes (default: every mode this host offers)")
    p.add_argument("--python", default=sys.executable, help="the interpreter the programs run with")
    p.add_argument("--out", type=Path, help="also write the summary as JSON here")
    args = p.parse_args(argv)
    modes = args.modes.split(",") if args.modes else list(sandbox.available_modes(args.python))
    print(f"sandbox overhead per program: {args.n} programs, modes {', '.join(modes)}, python {args.python}",
          flush=True)
    summary = bench(args.n, modes, args.python)
    print(f"{'mode':<11} {'n':>5} {'plain med':>10} {'sandbox med':>12} {'overhead med':>13} "
          f"{'p10..p90':>17} {'ratio med':>10}")
    for mode, s in summary.items():
        print(f"{mode:<11} {s['n']:>5} {s['plain_median_s'] * 1e3:>8.1f}ms {s['sandbox_median_s'] * 1e3:>10.1f}ms "
              f"{s['overhead_median_s'] * 1e3:>11.1f}ms {s['overhead_p10_s'] * 1e3:>7.1f}..{s['overhead_p90_s'] * 1e3:.1f}ms "
              f"{s['ratio_median']:>9.2f}x")
    if args.out:
        from gift.files import write_json

        write_json(args.out, {"n": args.n, "python": args.python, "modes": summary,
                              "isolation": sandbox.isolation_report(args.python)})
    return 0
