"""`gift timings`: the workflows' measured times, from their benchmark files, in docs/timings.md."""

from __future__ import annotations

import os
from pathlib import Path

from gift.timings import cli, config_timing

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path: Path, wall: float, cpu: float, rss: float, end: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")
    os.utime(path, (end, end))


def test_totals_and_wall_span_of_a_config(tmp_path):
    root = tmp_path / "results" / "smoke" / "benchmarks"
    t0 = 1_700_000_000.0
    # jobs: a 10 s job ending at t0+10, a 30 s job ending at t0+40 (started at t0+10), a 5 s job ending at t0+38
    _bench(root / "data" / "gsm8k.tsv", 10.0, 8.0, 100.0, t0 + 10)
    _bench(root / "train" / "r1.tsv", 30.0, 55.0, 900.0, t0 + 40)
    _bench(root / "report.tsv", 5.0, 4.0, 50.0, t0 + 38)
    t = config_timing(tmp_path / "results" / "smoke")
    assert t.jobs == 3 and t.span_s == 40.0 and t.wall_sum_s == 45.0 and t.cpu_s == 67.0
    assert t.peak_rss_mib == 900.0 and t.slowest == "train/r1"
    out = tmp_path / "timings.md"
    assert cli(["--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| `smoke` | 3 | 40 s | 45 s | 67 s | 900 MiB | `train/r1` (30 s) |" in text
    assert "gift estimate" in text and "do not edit" in text


def test_no_results_yet_says_so(tmp_path, capsys):
    assert cli(["--results", str(tmp_path / "absent"), "--out", "-"]) == 0
    assert "no workflow has run here yet" in capsys.readouterr().out
