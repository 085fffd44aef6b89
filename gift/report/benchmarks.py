"""The slowest jobs of a workflow, from the benchmark TSV each rule writes (wall time, CPU time, peak memory)."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobBenchmark:
    """One job's last benchmark record; None where Snakemake had no sample (jobs shorter than its interval)."""

    job: str
    wall_s: float
    cpu_s: float | None
    max_rss_mib: float | None


def _number(value: str | None) -> float | None:
    try:
        x = float(value) if value not in (None, "", "NA", "-") else None
    except ValueError:
        return None
    return x if x is not None and math.isfinite(x) else None


def read_benchmarks(root: str | os.PathLike) -> list[JobBenchmark]:
    """Every `*.tsv` under `root`, named by its path below it (`train/<run_id>`), slowest first.

    A file with several rows (a job benchmarked with repeats) counts by its last row; unreadable
    files and rows without a wall time are skipped.
    """
    root = Path(root)
    jobs = []
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        try:
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if not rows:
            continue
        row = rows[-1]
        wall = _number(row.get("s"))
        if wall is None:
            continue
        rss = _number(row.get("max_rss"))  # Snakemake reports MB (2**20 bytes, from psutil / 1024**2)
        jobs.append(JobBenchmark(job=path.relative_to(root).with_suffix("").as_posix(), wall_s=wall,
                                 cpu_s=_number(row.get("cpu_time")), max_rss_mib=rss))
    return sorted(jobs, key=lambda j: (-j.wall_s, j.job))


def _cell(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def slowest_jobs_markdown(jobs: list[JobBenchmark], n: int = 15) -> str:
    """A Markdown table of the `n` slowest jobs, with totals over all jobs."""
    if not jobs:
        return "No benchmark files found (the rules write them under results/<cfg>/benchmarks/).\n"
    total_wall = sum(j.wall_s for j in jobs)
    total_cpu = sum(j.cpu_s or 0.0 for j in jobs)
    lines = [f"{len(jobs)} jobs benchmarked: {total_wall:.1f} s of wall time summed over jobs (they overlap "
             f"when run in parallel), {total_cpu:.1f} s of CPU time. CPU time and peak memory are sampled by "
             "Snakemake (n/a: the job ended before the first sample). The slowest:", "",
             "| job | wall (s) | CPU (s) | peak RSS (MiB) |", "|---|---:|---:|---:|"]
    lines += [f"| {j.job} | {_cell(j.wall_s)} | {_cell(j.cpu_s)} | {_cell(j.max_rss_mib, 0)} |" for j in jobs[:n]]
    return "\n".join(lines) + "\n"


def slowest_jobs_csv(jobs: list[JobBenchmark]) -> str:
    """All jobs as CSV, slowest first (the HTML report shows it as a table)."""
    lines = ["job,wall_s,cpu_s,max_rss_mib"]
    lines += [f"{j.job},{j.wall_s:.2f},{'' if j.cpu_s is None else f'{j.cpu_s:.2f}'},"
              f"{'' if j.max_rss_mib is None else f'{j.max_rss_mib:.1f}'}" for j in jobs]
    return "\n".join(lines) + "\n"
