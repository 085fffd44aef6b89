"""Step script: results/<cfg>/REPORT.md, each claim of the paper beside what the runs measured (see gift.report)."""

import sys

from gift.report.cli import report_main

if __name__ == "__main__":
    sys.exit(report_main(sys.argv[1:]))
