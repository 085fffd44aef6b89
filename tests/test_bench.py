"""`gift bench step-time` runs both trainers and ends with the GIFT/GRPO ratio (no timing is asserted)."""

from __future__ import annotations

import re

from gift.bench import cli_step_time


def test_bench_prints_medians_and_the_ratio_as_its_last_number(capsys):
    code = cli_step_time(["--steps", "5", "--warmup", "1", "--rounds", "2", "--num-generations", "2", "--groups", "1",
                          "--completion-length", "4", "--hidden", "16", "--layers", "1"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    rounds = [line for line in out if line.startswith("round ")]
    assert [r.split()[2].rstrip(":") for r in rounds] == ["gift", "grpo", "grpo", "gift"]
    last = out[-1]
    gift, grpo, ratio = (float(x) for x in re.findall(r"median step ([0-9.]+) s.*median step ([0-9.]+) s.*"
                                                      r"GIFT/GRPO ([0-9.]+)$", last)[0])
    assert ratio == float(re.findall(r"[0-9.]+", last)[-1])
    # the medians are printed to 4 decimals and the ratio to 3: it must lie within what that rounding allows
    half = 5e-5
    assert (gift - half) / (grpo + half) - 5e-4 <= ratio <= (gift + half) / (grpo - half) + 5e-4
