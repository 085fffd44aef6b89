"""Step script: draw fig2b from run directories (see gift.report.figures)."""

import sys

from gift.report.cli import figure_main

if __name__ == "__main__":
    sys.exit(figure_main(sys.argv[1:], "fig2b"))
