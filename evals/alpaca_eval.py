"""Step script: AlpacaEval 2 of one model (`gift eval alpaca`; see gift.evals.alpaca_eval.evaluate)."""

import sys

from gift.cli import step_main

if __name__ == "__main__":
    sys.exit(step_main(__file__, ["eval", "alpaca"], sys.argv[1:]))
