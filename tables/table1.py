"""Step script: Table 1 from the method registry's properties (see gift.report.tables)."""

import sys

from gift.report.cli import table1_main

if __name__ == "__main__":
    sys.exit(table1_main(sys.argv[1:]))
