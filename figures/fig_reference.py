"""Step script: draw fig_reference (the implicit reward's reference, an ablation) from run directories."""

import sys

from gift.report.cli import figure_main

if __name__ == "__main__":
    sys.exit(figure_main(sys.argv[1:], "fig_reference"))
