"""Step script: lm-eval tasks of one model, or their local twins (`gift eval lm-eval`; see gift.evals.lm_eval.runner)."""

import sys

from gift.cli import step_main

if __name__ == "__main__":
    sys.exit(step_main(__file__, ["eval", "lm-eval"], sys.argv[1:]))
