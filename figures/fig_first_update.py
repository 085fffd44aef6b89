"""Step script: draw fig_first_update from run directories (see gift.report.first_update)."""

import sys

from gift.report.cli import figure_main

if __name__ == "__main__":
    sys.exit(figure_main(sys.argv[1:], "fig_first_update"))
