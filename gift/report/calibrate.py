"""`gift report calibrate`: how often the report's verdict rule is decisive when nothing is there, and how often
it finds a difference that is there, measured by simulation through the report's own code.

Each simulated setting compares two methods with `seeds` runs each. A run's value is its seed effect (standard
normal: the seed spread is the unit) plus its evaluation noise (normal, standard deviation `eval_se` in seed-spread
units, drawn per item so that a one-seed setting gets the paired, item-by-item interval the report shows).
GIFT's runs are shifted by `effect`. The runs go through `gift.report.verdicts.assess` and the claim's family rule
(`family_verdicts`, Holm over `settings` settings), exactly as the report judges a claim.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence

import numpy as np

from gift.cli import HelpFormatter
from gift.report.stats import Obs
from gift.report.verdicts import CONTRADICTED, SUPPORTED, assess, difference, family_verdicts

N_ITEMS = 50  # items per simulated evaluation (only the evaluation-only interval of one-seed settings reads them)


def _runs(rng: np.random.Generator, seeds: int, shift: float, eval_se: float, common: np.ndarray) -> list[Obs]:
    out = []
    for _ in range(seeds):
        seed_effect = shift + float(rng.standard_normal())
        if seeds >= 2:  # the Welch interval reads the run values only
            noise = eval_se * float(rng.standard_normal())
            out.append(Obs(seed_effect + noise + float(common.mean()), eval_se))
            continue
        # per-item scores whose mean has standard error eval_se around the run's seed effect
        item_noise = eval_se * math.sqrt(N_ITEMS) * rng.standard_normal(N_ITEMS)
        scores = seed_effect + common + item_noise
        out.append(Obs(float(scores.mean()), eval_se, {i: float(v) for i, v in enumerate(scores)}))
    return out


def simulate(seeds: int, sims: int, eval_se: float = 0.0, effect: float = 0.0, settings: int = 1,
             rng_seed: int = 0) -> dict:
    """Share of simulated claims (each `settings` settings, every one with true difference `effect`) the report
    calls decisive (supported or contradicted), and the share it calls supported."""
    if seeds < 1 or sims < 1 or settings < 1:
        raise ValueError("--seeds, --sims and --settings must be at least 1")
    if eval_se < 0:
        raise ValueError(f"--eval-se must be >= 0, got {eval_se}")
    rng = np.random.default_rng(rng_seed)
    decisive = supported = 0
    for _ in range(sims):
        rows = []
        for _ in range(settings):
            common = rng.standard_normal(N_ITEMS)  # item difficulty: the same items for both methods
            groups = {"gift": _runs(rng, seeds, effect, eval_se, common),
                      "grpo": _runs(rng, seeds, 0.0, eval_se, common)}
            t = assess(groups, difference())
            rows.append((t.estimate, t.p))
        _, _, verdict = family_verdicts(rows)
        decisive += verdict in (SUPPORTED, CONTRADICTED)
        supported += verdict == SUPPORTED
    return {"decisive": decisive, "supported": supported, "sims": sims}


def calibrate(seeds: int, sims: int, eval_se: float = 0.0, effect: float | None = None, settings: int = 1,
              rng_seed: int = 0) -> dict:
    """The null false-decisive rate (with its Monte Carlo standard error) and, with `effect`, the power."""
    null = simulate(seeds, sims, eval_se, 0.0, settings, rng_seed)
    rate = null["decisive"] / sims
    out = {"seeds": seeds, "sims": sims, "eval_se": eval_se, "settings": settings, "false_decisive_rate": rate,
           "false_decisive_mc_se": math.sqrt(max(rate * (1 - rate), 0.25 / sims) / sims)}
    if effect is not None:
        alt = simulate(seeds, sims, eval_se, effect, settings, rng_seed + 1)
        out.update(effect=effect, power=alt["supported"] / sims,
                   power_mc_se=math.sqrt(max(alt["supported"] * (sims - alt["supported"]), 0.25 * sims) / sims ** 3))
    return out


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point of `gift report calibrate`."""
    parser = argparse.ArgumentParser(
        prog="gift report calibrate", formatter_class=HelpFormatter,
        description="Null (and, with --effect, power) simulations of the report's verdict rule, through the "
                    "report's own code. Units: the seed-to-seed standard deviation of a run's value.")
    parser.add_argument("--seeds", type=int, required=True, help="seeds per method in each setting")
    parser.add_argument("--sims", type=int, default=2000, help="simulated claims")
    parser.add_argument("--eval-se", type=float, default=0.0,
                        help="standard error of one run's evaluation, relative to the seed spread")
    parser.add_argument("--effect", type=float, help="a true GIFT − GRPO difference, relative to the seed spread: "
                                                     "also measure the power to call it supported")
    parser.add_argument("--settings", type=int, default=1, help="settings per claim (Holm's family)")
    parser.add_argument("--rng-seed", type=int, default=0, help="seed of the simulation")
    parser.add_argument("--fail-above", type=float,
                        help="exit 1 when the false-decisive rate is above this share (a CI threshold)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    args = parser.parse_args(argv)
    res = calibrate(args.seeds, args.sims, args.eval_se, args.effect, args.settings, args.rng_seed)
    line = (f"{args.seeds} seed(s) per method, {args.settings} setting(s), eval SE {args.eval_se:g} x seed sd, "
            f"{args.sims} simulations: decisive with no effect {res['false_decisive_rate']:.2%} "
            f"(Monte Carlo SE {res['false_decisive_mc_se']:.2%}; nominal 5%)")
    if args.effect is not None:
        line += f"; power at effect {args.effect:g}: {res['power']:.2%}"
    print(line)
    if args.json:
        print(json.dumps(res))
    if args.fail_above is not None and res["false_decisive_rate"] > args.fail_above:
        print(f"gift report calibrate: false-decisive rate {res['false_decisive_rate']:.2%} is above "
              f"{args.fail_above:.2%}", flush=True)
        return 1
    return 0
