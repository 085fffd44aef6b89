"""Step script: RLVR pass@1 of one model on a prepared split (`gift eval rlvr`; see gift.evals.rlvr.pass_at_k)."""

import sys

from gift.cli import step_main

if __name__ == "__main__":
    sys.exit(step_main(__file__, ["eval", "rlvr"], sys.argv[1:]))
