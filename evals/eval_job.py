"""Step script: the evaluations of a grouped eval job, in one process (`gift eval many`; see gift.grid.eval_jobs)."""

import sys

from gift.cli import step_main

if __name__ == "__main__":
    sys.exit(step_main(__file__, ["eval", "many"], sys.argv[1:]))
