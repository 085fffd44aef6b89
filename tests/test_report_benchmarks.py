"""The report's slowest-jobs table reads benchmark files as Snakemake itself writes them."""

from __future__ import annotations

import csv
import io

from snakemake.benchmark import BenchmarkRecord, write_benchmark_records

from gift.report.benchmarks import read_benchmarks, slowest_jobs_csv, slowest_jobs_markdown


def _record(path, wall, cpu, rss, sampled=True):
    rec = BenchmarkRecord(running_time=wall, max_rss=rss, cpu_time=cpu)
    rec.data_collected = sampled
    path.parent.mkdir(parents=True, exist_ok=True)
    write_benchmark_records([rec], str(path), False)


def test_slowest_jobs_come_first_with_wall_cpu_and_memory(tmp_path):
    root = tmp_path / "benchmarks"
    _record(root / "train" / "tiny-gsm8k-gift-s0.tsv", 31.25, 29.5, 512.0)
    _record(root / "models" / "tiny.tsv", 80.0, 78.25, 700.5)
    _record(root / "data" / "gsm8k.tsv", 0.3, None, None, sampled=False)  # ended before the first sample
    (root / "broken.tsv").write_text("not a benchmark\n")

    jobs = read_benchmarks(root)
    assert [j.job for j in jobs] == ["models/tiny", "train/tiny-gsm8k-gift-s0", "data/gsm8k"]
    assert (jobs[0].wall_s, jobs[0].cpu_s, jobs[0].max_rss_mib) == (80.0, 78.25, 700.5)
    assert jobs[2].cpu_s is None and jobs[2].max_rss_mib is None

    md = slowest_jobs_markdown(jobs, n=2)
    assert "3 jobs benchmarked: 111.5 s of wall time" in md and "107.8 s of CPU time" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| job")]
    assert rows == ["| models/tiny | 80.0 | 78.2 | 700 |", "| train/tiny-gsm8k-gift-s0 | 31.2 | 29.5 | 512 |"]

    table = list(csv.DictReader(io.StringIO(slowest_jobs_csv(jobs))))
    assert [r["job"] for r in table] == [j.job for j in jobs]
    assert table[2]["cpu_s"] == "" and float(table[1]["wall_s"]) == 31.25


def test_no_benchmark_files_says_so(tmp_path):
    assert "No benchmark files" in slowest_jobs_markdown(read_benchmarks(tmp_path / "absent"))
