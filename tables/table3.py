"""Step script: Table 3 beside the paper's numbers, from eval-result JSONs (see gift.report.tables)."""

import sys

from gift.report.cli import table_main

if __name__ == "__main__":
    sys.exit(table_main(sys.argv[1:], "table3"))
