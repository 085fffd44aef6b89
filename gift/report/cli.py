"""Command lines of the figure, table and report step scripts (figures/*.py, tables/*.py call these)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gift.files import read_json, write_json, write_text
from gift.report import provenance as prov
from gift.report.inputs import (
    Run,
    attach_final_evals,
    entry_figures,
    figure_id,
    load_eval_results,
    load_grid,
    load_runs,
)

log = logging.getLogger("gift.report")


def setup_logging() -> None:
    """INFO logs of the report steps to stderr, unless logging is already configured."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _common(parser: argparse.ArgumentParser, grid_required: bool = True) -> None:
    parser.add_argument("--config-name", required=True, help="the config's name (smoke, tiny, paper), shown in titles")
    parser.add_argument("--grid", required=grid_required, help="GRID.json the workflow writes (list of runs/models)")
    parser.add_argument("--out", required=True, help="output prefix: writes PREFIX.<ext> beside PREFIX.rst "
                                                     "(caption) and PREFIX.provenance.json")


def with_expected(runs: list[Run], grid: list[dict], figure: str | None = None) -> list[Run]:
    """The loaded runs plus, as runs without metrics ('not run'), the grid's runs that were not given.

    With `figure`, only the grid runs that belong to that figure are added.
    """
    have = {r.run_id for r in runs}
    fid = figure_id(figure) if figure else None
    extra = [Run(run_id=e["run_id"], entry=e) for e in grid
             if e.get("run_id") and e["run_id"] not in have and (fid is None or fid in entry_figures(e))]
    return list(runs) + extra


def figure_main(argv: Sequence[str] | None, fid: str) -> int:
    """`figures/<fid>.py --config-name NAME --runs RUN_DIR ... --grid GRID.json --out PREFIX`."""
    from gift.report.figures import make_figure, save_figure

    parser = argparse.ArgumentParser(prog=f"figures/{fid}.py", description=f"Draw {fid} from run directories.")
    _common(parser)
    parser.add_argument("--runs", nargs="*", default=[], help="run directories (results/<cfg>/runs/<run_id>)")
    args = parser.parse_args(argv)
    setup_logging()
    grid = load_grid(args.grid)
    fig = figure_id(fid)
    # A run the grid assigns to other figures is left out, so passing extra run directories is harmless.
    runs = [r for r in load_runs(args.runs, grid) if r.entry.get("figure") is None or fig in r.figures]
    runs = with_expected(runs, grid, fid)
    result = make_figure(fig, runs, args.config_name)
    paths = save_figure(result, args.out)
    log.info("%s: %d of %d runs with metrics -> %s", fid, sum(r.has_metrics for r in runs), len(runs),
             ", ".join(map(str, paths)))
    return 0


def table1_main(argv: Sequence[str] | None = None) -> int:
    """`tables/table1.py --config-name NAME --out PREFIX [--grid GRID.json] [--methods m ...]`."""
    from gift.report import table1 as T

    parser = argparse.ArgumentParser(prog="tables/table1.py", description="Table 1 from the method registry.")
    _common(parser, grid_required=False)
    parser.add_argument("--methods", nargs="*", help="methods to list, in order (default: all registered)")
    args = parser.parse_args(argv)
    setup_logging()
    rows = T.table1_rows(methods=args.methods)
    prefix = args.out
    write_text(f"{prefix}.csv", T.table1_csv(rows))
    write_text(f"{prefix}.md", T.table1_markdown(rows))
    write_text(f"{prefix}.tex", T.table1_latex(rows))
    write_text(f"{prefix}.rst", T.TABLE1_CAPTION + "\n")
    record = prov.header(args.config_name, "table", "table1", ["gift.methods.METHODS"])
    record["rows"] = rows
    write_json(prov.provenance_path(prefix), record)
    log.info("table1: %d methods -> %s.{csv,md,tex}", len(rows), prefix)
    return 0


def _table_args(parser: argparse.ArgumentParser) -> None:
    from gift.report.paper_values import default_paper_values_path
    from gift.report.tables import DEFAULT_TOLERANCE_LENGTH_REL, DEFAULT_TOLERANCE_POINTS

    parser.add_argument("--evals", nargs="*", default=[], help="eval-result JSONs (results/<cfg>/evals/<model>/*.json)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_POINTS,
                        help="allowed |reproduced - paper| in points for percentage columns (default %(default)s)")
    parser.add_argument("--length-tolerance", type=float, default=DEFAULT_TOLERANCE_LENGTH_REL,
                        help="allowed |reproduced - paper| for length columns, as a share of the paper's value "
                             "(default %(default)s)")
    parser.add_argument("--paper-values", default=str(default_paper_values_path()),
                        help="the paper's numbers (default: %(default)s)")


def build_tables(names: Sequence[str], grid: list[dict], loaded_evals: tuple[list, list[str]], config_name: str,
                 paper_values: str, tolerance: float, length_tolerance: float) -> list:
    """Reproduced tables `names` (e.g. table2, table3) from eval results as `load_eval_results` returns them."""
    from gift.report.paper_values import load_paper_values
    from gift.report.tables import build_reproduced_table

    paper = load_paper_values(paper_values)
    evals, absent = loaded_evals
    out = []
    for name in names:
        if name not in paper:
            raise ValueError(f"{paper_values}: no table {name!r} (tables: {', '.join(paper)})")
        out.append(build_reproduced_table(paper[name], grid, evals, config_name, tolerance, length_tolerance, absent))
    return out


def table_main(argv: Sequence[str] | None, name: str) -> int:
    """`tables/<name>.py --config-name NAME --evals EVAL_JSON ... --grid GRID.json --out PREFIX [--tolerance 2]`."""
    from gift.report import table_render as R
    from gift.report import tables as T

    parser = argparse.ArgumentParser(prog=f"tables/{name}.py",
                                     description=f"{name}: the paper's values beside the reproduced ones.")
    _common(parser)
    _table_args(parser)
    args = parser.parse_args(argv)
    setup_logging()
    grid = load_grid(args.grid)
    (rt,) = build_tables([name], grid, load_eval_results(args.evals), args.config_name, args.paper_values,
                         args.tolerance, args.length_tolerance)
    prefix = args.out
    write_text(f"{prefix}.csv", R.table_csv(rt))
    write_text(f"{prefix}.md", R.table_markdown(rt))
    write_text(f"{prefix}.tex", R.table_latex(rt))
    write_text(f"{prefix}.rst", R.table_rst_caption(rt))
    write_json(prov.provenance_path(prefix), T.table_provenance(rt))
    s = T.within_summary(rt)
    log.info("%s: %d of %d measured paper cells within tolerance, %d not run -> %s.{csv,md,tex}", name,
             s["within"], s["measured"], s["not_run"], prefix)
    return 0


def _missing_entries(runs: Sequence[Run], grid: list[dict], eval_paths: Sequence[str]) -> list[dict]:
    given = {Path(p).resolve() for p in eval_paths if Path(p).exists()}
    out = [{"run_id": r.run_id, "what": "no metrics.jsonl (training run)"} for r in runs if not r.has_metrics]
    for e in grid:
        for name, path in (e.get("evals") or {}).items():
            if Path(path).resolve() not in given:
                out.append({"model_id": e.get("model_id"), "what": f"no {name} result ({path})"})
    return out


def _claim_record(c) -> dict:
    """A claim as JSON: its fields without the in-memory assessments (their numbers are in `details`)."""
    import dataclasses

    return {f.name: getattr(c, f.name) for f in dataclasses.fields(c) if f.name != "assessments"}


def report_main(argv: Sequence[str] | None = None) -> int:
    """`tables/report.py --config-name NAME --grid GRID.json --runs ... --evals ... --figures PNG ... --out REPORT.md`.

    Writes REPORT.md, REPORT.rst (the claims for the Snakemake HTML report) and REPORT.claims.json.
    """

    from gift.report.claims import ROLLOUT_PIVOT, evaluate_claims
    from gift.report.report import claims_rst, report_markdown
    from gift.report.table1 import table1_markdown, table1_rows

    parser = argparse.ArgumentParser(prog="tables/report.py",
                                     description="REPORT.md: the paper's claims beside what the runs measured.")
    _common(parser)
    _table_args(parser)
    parser.add_argument("--runs", nargs="*", default=[], help="run directories")
    parser.add_argument("--figures", nargs="*", default=[], help="figure PNGs to show in the report")
    parser.add_argument("--benchmarks", help="directory of the jobs' benchmark TSVs: adds a table of the slowest "
                                             "jobs to the report")
    parser.add_argument("--benchmarks-csv", help="also write every benchmarked job to this CSV")
    parser.add_argument("--tables", nargs="*", default=["table1", "table2", "table3"],
                        help="the paper's tables the config reproduces (its report.tables; default all three)")
    parser.add_argument("--calibration-sims", type=int, default=2000,
                        help="null simulations per seed count for the calibration the report prints (0: none)")
    parser.add_argument("--rollout-pivot", type=int, default=ROLLOUT_PIVOT,
                        help="N beyond which the paper says more rollouts gain little (default %(default)s)")
    args = parser.parse_args(argv)
    setup_logging()
    grid = load_grid(args.grid)
    runs = with_expected(load_runs(args.runs, grid), grid)
    loaded_evals = load_eval_results(args.evals)  # read once: the final evaluations and the tables use them
    n_final = attach_final_evals(runs, loaded_evals[0])
    if n_final:
        log.info("%d runs have an evaluation of their final model on the full test set", n_final)
    tables = build_tables([t for t in ("table2", "table3") if t in args.tables], grid, loaded_evals,
                          args.config_name, args.paper_values, args.tolerance, args.length_tolerance)
    claims = evaluate_claims(runs, tables, grid, rollout_pivot=args.rollout_pivot)
    from gift.report.sweep import sweep_answer, sweep_claims, sweep_markdown, sweep_settings, sweep_summary

    sweeps = sweep_settings(runs)
    at_picks = sweep_claims(sweeps) if sweeps else {}
    t1 = None
    try:
        if "table1" in args.tables:
            t1 = table1_markdown(table1_rows())
    except (ImportError, ValueError) as err:
        log.warning("Table 1 left out of the report: %s", err)
    slowest = None
    if args.benchmarks:
        from gift.report.benchmarks import read_benchmarks, slowest_jobs_csv, slowest_jobs_markdown

        jobs = read_benchmarks(args.benchmarks)
        slowest = slowest_jobs_markdown(jobs)
        if args.benchmarks_csv:
            write_text(args.benchmarks_csv, slowest_jobs_csv(jobs))
    out = Path(args.out)
    doc = read_json(args.grid)
    meta = doc if isinstance(doc, dict) else {}
    from gift.report.report import measure_calibration

    calibration = [] if args.calibration_sims == 0 else measure_calibration(claims, args.calibration_sims)
    md = report_markdown(args.config_name, claims, tables, runs, _missing_entries(runs, grid, args.evals),
                         out.parent, figures=args.figures, table1_md=t1,
                         n_eval_files=sum(Path(p).exists() for p in args.evals),
                         extra_md=sweep_markdown(sweeps, at_picks) if sweeps else "", slowest_jobs_md=slowest,
                         smoke=meta.get("size") == "smoke", calibration=calibration, results=meta.get("results"),
                         sweep_answer_md=sweep_answer(sweeps) if sweeps else "")
    write_text(out, md)
    write_text(out.with_suffix(".rst"), claims_rst(claims, args.config_name))
    record = prov.header(args.config_name, "report", "REPORT", list(args.runs) + list(args.evals))
    record["claims"] = [_claim_record(c) for c in claims]
    record["calibration"] = calibration
    if sweeps:
        record["sweeps"] = sweep_summary(sweeps)
        record["claims_at_selected"] = [_claim_record(c) for c in at_picks["selected"]]
        record["claims_at_unswept"] = [_claim_record(c) for c in at_picks["unswept"]]
    write_json(out.with_suffix(".claims.json"), record)
    log.info("report: %s", ", ".join(f"{c.cid} {c.verdict}" for c in claims))
    return 0
