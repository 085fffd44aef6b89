"""Score the cases of tests/verl_reward_cases.py with verl's own scorer files and compare with the recorded values.

Usage: python tests/scripts/verl_reward_values.py <verl checkout>/verl/utils/reward_score

The directory must hold verl's gsm8k.py, math_reward.py and math_dapo.py (e.g. `git show
<commit>:verl/utils/reward_score/<file>` of the fork, written to a folder). Each file is loaded on its
own (they import nothing from verl), so neither verl nor its dependencies need to be installed. Prints
every case whose recorded value differs from verl's and exits 1 if there is one; nothing is fetched.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"verl_scorer_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verl_value(scorers: dict, kind: str, completion: str, truth: str) -> float:
    """The reward verl gives: gsm8k's and math_reward's score, math_dapo's `acc` (its pass@1)."""
    if kind == "gsm8k":
        return float(scorers["gsm8k"].compute_score(completion, truth))
    if kind == "math":
        return float(scorers["math_reward"].compute_score(completion, truth))
    if kind == "dapo":
        return float(bool(scorers["math_dapo"].compute_score(completion, truth)["acc"]))
    raise ValueError(f"no verl scorer for {kind!r}")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    folder = Path(argv[0])
    missing = [f for f in ("gsm8k.py", "math_reward.py", "math_dapo.py") if not (folder / f).is_file()]
    if missing:
        print(f"{folder}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    scorers = {name: _load(folder / f"{name}.py") for name in ("gsm8k", "math_reward", "math_dapo")}
    cases = _load(HERE.parent / "verl_reward_cases.py").CASES
    bad = 0
    for kind, completion, truth, recorded in cases:
        got = verl_value(scorers, kind, completion, truth)
        if got != recorded:
            bad += 1
            print(f"DIFFERS {kind} {completion[:60]!r} vs {truth!r}: recorded {recorded}, verl {got}")
    print(f"{len(cases)} cases, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
