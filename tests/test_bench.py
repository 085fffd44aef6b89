"""`gift bench step-time` runs both trainers in ABBA pairs, two scenarios, and ends with the paper-structure ratio.

No timing is asserted: the test checks the output's structure and that its summary figures follow
from the per-pair figures it printed.
"""

from __future__ import annotations

import re
import statistics

from gift.bench import cli_rollouts, cli_step_time

NUMBER = r"([0-9]+\.[0-9]+)"


def test_bench_prints_paired_ratios_and_ends_with_the_paper_structure_ratio(capsys):
    code = cli_step_time(["--pairs", "2", "--cycles", "1", "--warmup", "0", "--num-generations", "2", "--groups", "1",
                          "--completion-length", "3", "--hidden", "16", "--layers", "1"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("torch threads 1;")
    pairs = [line for line in out if ": pair " in line]
    assert len(pairs) == 4
    scenarios = [line.split(": pair ")[0] for line in pairs]
    assert scenarios == ["one update per rollout batch"] * 2 + ["paper structure, 4 updates per rollout batch"] * 2
    # ABBA in the first pair, BAAB in the second
    assert [re.search(r"\(([A-Z, ]+)\)", line).group(1) for line in pairs[:2]] == ["GIFT, GRPO, GRPO, GIFT",
                                                                                   "GRPO, GIFT, GIFT, GRPO"]
    ratios: dict[str, list[float]] = {}
    for scenario, line in zip(scenarios, pairs, strict=True):
        gift, grpo, ratio = (float(x) for x in re.search(rf"GIFT {NUMBER} s, GRPO {NUMBER} s per update, ratio "
                                                         rf"{NUMBER}$", line).groups())
        # times are printed to 4 decimals and the ratio to 3: it must lie within what that rounding allows
        half = 5e-5
        assert (gift - half) / (grpo + half) - 5e-4 <= ratio <= (gift + half) / (grpo - half) + 5e-4
        ratios.setdefault(scenario, []).append(ratio)
    summaries = out[-2:]
    for scenario, line in zip(ratios, summaries, strict=True):
        assert line.startswith(scenario + ": 2 paired ratios")
        lo, hi, rmin, rmax, med = (float(x) for x in re.search(
            rf"middle half {NUMBER}-{NUMBER}, range {NUMBER}-{NUMBER}; GIFT/GRPO median {NUMBER}$", line).groups())
        assert (rmin, rmax) == (min(ratios[scenario]), max(ratios[scenario]))
        assert abs(med - statistics.median(ratios[scenario])) <= 1e-3
        assert rmin <= lo <= med <= hi <= rmax
    # the last number of the last line is the paper-structure ratio
    assert float(re.findall(r"[0-9.]+", out[-1])[-1]) == med
    assert out[-1].startswith("paper structure")


def test_bench_rollouts_refuses_a_head_dim_vllms_cpu_attention_rejects(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        cli_rollouts(["--hidden", "96", "--heads", "4"])  # the tiny backbones' head dim 24
    assert exit_.value.code == 2 and "head dim 96/4" in capsys.readouterr().err
