"""`gift report --config CONFIG`: REPORT.md and the figures from whatever runs and evaluations have finished.

The workflow's own report waits for every job; this reads the same files where they are now. A run without
metrics, an evaluation not written yet, or a figure that cannot be drawn is marked as missing, and every
verdict is taken on the runs that exist. The output goes to a directory of its own (default
`results/<name>/partial/`), so that the workflow's outputs are never touched.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gift.cli import HelpFormatter

log = logging.getLogger("gift.report")


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point of `gift report`."""
    from gift.grid import ConfigError, expand, load_checked, write_grid_json
    from gift.report.cli import report_main, setup_logging, with_expected
    from gift.report.figures import make_figure, save_figure
    from gift.report.inputs import figure_id, load_grid, load_runs

    parser = argparse.ArgumentParser(
        prog="gift report", formatter_class=HelpFormatter,
        description="REPORT.md and the figures from whatever has finished (missing runs and evaluations are "
                    "marked). `gift report calibrate --help`: the verdict rule's measured calibration.")
    parser.add_argument("--config", required=True, help="the workflow config, e.g. config/node.yaml")
    parser.add_argument("--out", help="output directory (default: results/<name>/partial)")
    parser.add_argument("--calibration-sims", type=int, default=2000,
                        help="null simulations per seed count for the calibration the report prints (0: none)")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        grid = expand(load_checked(args.config))
    except (ConfigError, OSError) as err:
        print(f"gift report: error: {args.config}: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or f"{grid.results}/partial")
    out.mkdir(parents=True, exist_ok=True)
    grid_path = out / "grid.json"
    write_grid_json(grid, grid_path)
    entries = load_grid(grid_path)
    run_dirs = [grid.run_dir(r) for r in grid.runs]
    evals = [grid.eval_path(m, e) for m, e in grid.eval_targets()]
    runs = load_runs(run_dirs, entries)
    figures = []
    for name in grid.figures():
        fid = figure_id(name)
        fig_runs = with_expected([r for r in runs if r.entry.get("figure") is None or fid in r.figures], entries, fid)
        prefix = out / "figures" / name
        try:
            save_figure(make_figure(fid, fig_runs, grid.name), str(prefix))
        except Exception as err:  # noqa: BLE001 (one figure that cannot be drawn yet must not stop the report)
            log.warning("%s: not drawn (%s)", name, err)
            continue
        figures.append(str(prefix.with_suffix(".png")))
    rc = report_main(["--config-name", grid.name, "--grid", str(grid_path), "--runs", *run_dirs,
                      "--evals", *evals, "--figures", *figures, "--tables", *grid.tables(),
                      "--calibration-sims", str(args.calibration_sims), "--out", str(out / "REPORT.md")])
    done = sum(r.has_metrics for r in runs)
    n_evals = sum(Path(p).exists() for p in evals)
    print(f"{done} of {len(runs)} runs with metrics, {n_evals} of {len(evals)} evaluations, "
          f"{len(figures)} of {len(grid.figures())} figures -> {out / 'REPORT.md'}")
    return rc
