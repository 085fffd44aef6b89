"""Step script: draw the sweep figure from run directories (see gift.report.sweep)."""

import sys

from gift.report.cli import figure_main

if __name__ == "__main__":
    sys.exit(figure_main(sys.argv[1:], "fig_sweep"))
