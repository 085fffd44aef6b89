"""Step script: Arena-Hard v2 of one model (`gift eval arena-hard`; see gift.evals.arena_hard.evaluate)."""

import sys

from gift.cli import step_main

if __name__ == "__main__":
    sys.exit(step_main(__file__, ["eval", "arena-hard"], sys.argv[1:]))
