"""Score the cases of tests/verl_reward_cases.py with verl's own scorer files and compare with the recorded values.

Usage: python tests/scripts/verl_reward_values.py <verl checkout>/verl/utils/reward_score [--fuzz N]

The directory must hold verl's gsm8k.py, math_reward.py and math_dapo.py (e.g. `git show
<commit>:verl/utils/reward_score/<file>` of the fork, written to a folder). Each file is loaded on its
own (they import nothing from verl), so neither verl nor its dependencies need to be installed. Prints
every case whose recorded value differs from verl's and exits 1 if there is one; nothing is fetched.
With --fuzz N it also scores N random strings built from the rules' special tokens with verl's files and
with gift.answer_rules (run from the repository root), and counts where they differ.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import random
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


_TOKENS = ("\\boxed{", "\\boxed ", "\\boxed", "\\fbox{", "{", "}", "$", "\\$", "\\frac", "\\dfrac", "\\tfrac",
           "\\sqrt", "1", "2", "0.5", ".5", " ", ".", "\n", "=", "x", "\\text{ ", "\\text{", "cm", "\\left(",
           "\\right)", "^\\circ", "^{\\circ}", "\\!", "\\%", "/", "-", ",", "Answer:", "answer :", "an ", "a ",
           "degrees", "\\\\", "\\overline{", "\\textbf{", "mbox", ",\\!", "{,}")
_TRUTHS = ("1", "2", "\\frac{1}{2}", "0.5", "12", "x", "\\sqrt{2}", "1,2", "{1}")


def fuzz(scorers: dict, n: int, seed: int = 0) -> int:
    """How many of `n` random (completion, truth) pairs gift.answer_rules scores differently from verl."""
    sys.path.insert(0, str(HERE.parents[1]))
    from gift.answer_rules import dapo_rule_score, math_rule_score

    rng = random.Random(seed)
    bad = 0
    for _ in range(n):
        text = "".join(rng.choice(_TOKENS) for _ in range(rng.randint(0, 14)))
        if rng.random() < 0.3:  # around the 300-character window
            pad = "x" * rng.randint(250, 330)
            text = text + pad if rng.random() < 0.5 else pad + text
        truth = rng.choice(_TRUTHS) if rng.random() < 0.7 else "".join(rng.choice(_TOKENS) for _ in range(3))
        with contextlib.redirect_stdout(io.StringIO()):  # verl prints the errors it catches
            want = (verl_value(scorers, "math", text, truth), verl_value(scorers, "dapo", text, truth))
        got = (math_rule_score(text, truth)[0], dapo_rule_score(text, truth)[0])
        if got != want:
            bad += 1
            print(f"FUZZ DIFFERS {text!r} vs {truth!r}: gift {got}, verl {want}")
    return bad


def main(argv: list[str]) -> int:
    n_fuzz = 0
    if len(argv) == 3 and argv[1] == "--fuzz" and argv[2].isdigit():
        n_fuzz, argv = int(argv[2]), argv[:1]
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
        with contextlib.redirect_stdout(io.StringIO()):
            got = verl_value(scorers, kind, completion, truth)
        if got != recorded:
            bad += 1
            print(f"DIFFERS {kind} {completion[:60]!r} vs {truth!r}: recorded {recorded}, verl {got}")
    print(f"{len(cases)} cases, {bad} differ")
    if n_fuzz:
        fuzzed = fuzz(scorers, n_fuzz)
        print(f"{n_fuzz} random strings, {fuzzed} scored differently")
        bad += fuzzed
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
