"""Read what the report draws on: the workflow's grid, run directories (metrics.jsonl) and eval-result JSONs."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gift.files import read_json

log = logging.getLogger("gift.report")

# metrics.jsonl stores pass rates (train_pass@1, eval_pass@1) in percent, the unit of the eval JSONs and
# of the paper; the report draws and compares them as they are.


def figure_id(name: str | None) -> str | None:
    """Normalise a figure or table name: 'Fig 3' -> 'fig3', '2a' -> 'fig2a', 'Table 2' -> 'table2',
    'fig_correlation' -> 'correlation'."""
    if name is None:
        return None
    s = re.sub(r"[^a-z0-9]", "", str(name).lower())
    s = re.sub(r"^figure", "fig", s)
    s = re.sub(r"^tab(le)?", "table", s)
    if re.fullmatch(r"\d+[a-z]?", s):
        s = "fig" + s
    if s.startswith("fig") and not re.fullmatch(r"fig\d+[a-z]?", s):
        s = s[3:]
    return s


def entry_figures(entry: dict) -> set[str]:
    """The normalised figure/table ids a grid entry belongs to (its `figure` may be a string or a list)."""
    fig = entry.get("figure")
    if fig is None:
        return set()
    items = fig if isinstance(fig, list | tuple) else [fig]
    return {f for f in (figure_id(x) for x in items) if f}


def load_grid(path: str | os.PathLike) -> list[dict]:
    """The workflow's grid: a JSON list of entries (or {"runs": [...]}) with run_id and/or model_id.

    Raises ValueError naming the file and the entry when an entry has neither id.
    """
    path = Path(path)
    doc = read_json(path)
    entries = doc.get("runs") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of runs (or an object with a 'runs' list)")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"{path}: entry {i} is not an object")
        if not e.get("run_id") and not e.get("model_id"):
            raise ValueError(f"{path}: entry {i} has neither 'run_id' nor 'model_id'")
        if e.get("variant") is not None and not isinstance(e["variant"], dict):
            raise ValueError(f"{path}: entry {i} ({e.get('run_id') or e.get('model_id')}): 'variant' must be an object")
    return entries


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], int]:
    """Rows of a metrics.jsonl and the number of unreadable lines (a line being written is skipped, not fatal)."""
    rows, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


@dataclass
class Run:
    """One training run: its grid entry and its per-step metrics (empty when the run has not produced any)."""

    run_id: str
    entry: dict
    path: Path | None = None
    metrics: list[dict] = field(default_factory=list)
    done: bool = False
    bad_lines: int = 0
    # pass@1 of the final model on the full test set ({"value", "stderr" (percent), "n", "path"}), when the
    # config evaluates the run's final model (an experiment's `evaluate: [rlvr]`)
    final_eval: dict | None = None

    @property
    def method(self) -> str:
        """The registry name of the method, lower case."""
        return str(self.entry.get("method") or "unknown").lower()

    @property
    def backbone(self) -> str:
        return str(self.entry.get("backbone") or "")

    @property
    def backbone_label(self) -> str:
        return str(self.entry.get("backbone_label") or self.backbone)

    @property
    def dataset(self) -> str:
        return str(self.entry.get("dataset") or "")

    @property
    def eval_dataset(self) -> str:
        return str(self.entry.get("eval_dataset") or "")

    @property
    def seed(self) -> Any:
        return self.entry.get("seed")

    @property
    def variant(self) -> dict:
        """The variant settings of the run (e.g. num_generations, implicit_aggregation)."""
        return dict(self.entry.get("variant") or {})

    @property
    def figures(self) -> set[str]:
        """Normalised ids of the figures the grid draws this run in."""
        return entry_figures(self.entry)

    @property
    def has_metrics(self) -> bool:
        """True once the run has logged at least one step."""
        return bool(self.metrics)

    def series(self, key: str, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """(x values, values) of one metric, in x order; absent, null and non-finite values are left out.

        `x` is `step` (optimizer updates) or another row key such as `rollout_batch`; the values of the rows
        that share an x value (the updates of one rollout batch) are averaged."""
        pts: dict[float, float] = {}
        groups: dict[float, list[float]] = {}
        for i, row in enumerate(self.metrics):
            v = row.get(key)
            if v is None or isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                continue
            at = row.get("step", i + 1) if x == "step" else row.get(x)
            if at is None and x == "rollout_batch" and isinstance(row.get("step"), int | float):
                # rows written without the key: the rollout batch from the run's batch structure
                at = math.ceil(row["step"] / self._updates_per_rollout_batch())
            if not isinstance(at, int | float) or isinstance(at, bool):
                continue
            if x == "step":
                pts[float(at)] = float(v)  # a resumed run may log a step twice: the later line wins
            else:
                groups.setdefault(float(at), []).append(float(v))
        if x != "step":
            pts = {at: sum(vals) / len(vals) for at, vals in groups.items()}
        steps = np.array(sorted(pts), dtype=float)
        return steps, np.array([pts[s] for s in steps], dtype=float)

    def _updates_per_rollout_batch(self) -> int:
        """Optimizer updates per rollout batch from the grid entry's batch plan (1 when it is not known)."""
        value = (self.entry.get("batch") or {}).get("updates_per_rollout_batch")
        return int(value) if isinstance(value, int | float) and value >= 1 else 1

    def describe(self) -> str:
        """'GRPO tiny math seed 1': how a figure names a run that is missing."""
        parts = [self.method.upper(), self.backbone, self.dataset]
        parts += [f"{k}={v}" for k, v in sorted(self.variant.items())]
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return " ".join(p for p in parts if p)


def _entry_from_manifest(run_dir: Path) -> dict | None:
    mpath = run_dir / "manifest.json"
    if not mpath.exists():
        return None
    try:
        man = read_json(mpath)
    except (OSError, ValueError):
        return None
    cfg = man.get("config") if isinstance(man, dict) else None
    if not isinstance(cfg, dict):
        return None
    entry = {k: cfg.get(k) for k in ("method", "backbone", "dataset", "variant", "figure", "panel") if k in cfg}
    entry["seed"] = man.get("seed", cfg.get("seed"))
    entry["run_id"] = run_dir.name
    return entry if entry.get("method") else None


def load_runs(run_dirs: Sequence[str | os.PathLike], grid: list[dict]) -> list[Run]:
    """Runs for the given directories, matched to grid entries by run_id (the directory's name).

    A directory absent from the grid falls back to its manifest's config; with neither, it is a
    ValueError naming the directory. A directory without metrics.jsonl yields a Run with no metrics.
    """
    by_id = {e["run_id"]: e for e in grid if e.get("run_id")}
    runs = []
    for d in run_dirs:
        d = Path(d)
        run_id = d.name
        entry = by_id.get(run_id) or _entry_from_manifest(d)
        if entry is None:
            raise ValueError(f"run directory {d}: no grid entry with run_id {run_id!r} and no manifest.json "
                             "config with a 'method' to describe it")
        run = Run(run_id=run_id, entry=entry, path=d, done=(d / "DONE").exists())
        mpath = d / "metrics.jsonl"
        if mpath.exists():
            run.metrics, run.bad_lines = read_metrics(mpath)
            if run.bad_lines:
                log.warning("%s: %d unreadable lines skipped", mpath, run.bad_lines)
        else:
            log.warning("%s: no metrics.jsonl; the run counts as not run", d)
        runs.append(run)
    return runs


def expected_runs(grid: list[dict], figure: str) -> list[dict]:
    """Grid entries (with a run_id) that belong to a figure."""
    fid = figure_id(figure)
    return [e for e in grid if e.get("run_id") and fid in entry_figures(e)]


def missing_runs(grid: list[dict], figure: str, runs: Iterable[Run]) -> list[dict]:
    """Grid entries of a figure with no run that has metrics: these render as 'not run'."""
    have = {r.run_id for r in runs if r.has_metrics}
    return [e for e in expected_runs(grid, figure) if e["run_id"] not in have]


@dataclass
class EvalResult:
    """One eval-result JSON: the model it scored and its metrics ({key: {"value": ..., ...}})."""

    path: Path
    model: str
    eval: str
    metrics: dict[str, dict]
    details: dict = field(default_factory=dict)  # the evaluator's details: judge, prompts, GLM


def load_eval_results(paths: Sequence[str | os.PathLike]) -> tuple[list[EvalResult], list[str]]:
    """Parse eval-result JSONs; return them and the paths that do not exist (rendered as 'not run').

    Raises ValueError naming the file and field for a file that exists but breaks the format.
    """
    results, absent = [], []
    for p in paths:
        p = Path(p)
        if not p.exists():
            log.warning("eval result %s does not exist; its cells render as 'not run'", p)
            absent.append(str(p))
            continue
        doc = read_json(p)  # names the file when it is not valid JSON
        if not isinstance(doc, dict):
            raise ValueError(f"{p}: expected a JSON object")
        metrics = doc.get("metrics")
        if not isinstance(metrics, dict):
            raise ValueError(f"{p}: 'metrics' must be an object of {{key: {{'value': ...}}}}")
        for k, m in metrics.items():
            if not isinstance(m, dict) or "value" not in m:
                raise ValueError(f"{p}: metrics.{k} must be an object with a 'value'")
            v = m["value"]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise ValueError(f"{p}: metrics.{k}.value is {v!r}, not a number or null")
        model = doc.get("model") or p.parent.name
        details = doc.get("details") if isinstance(doc.get("details"), dict) else {}
        results.append(EvalResult(path=p, model=str(model), eval=str(doc.get("eval", p.stem)), metrics=metrics,
                                  details=details))
    return results, absent


def attach_final_evals(runs: Iterable[Run], results: Iterable[EvalResult]) -> int:
    """Give each run the RLVR evaluation of its final model on its eval dataset, when one was made; returns
    how many runs got one."""
    from gift.grid.runs import rlvr_eval_name

    by_file = {(r.model, r.path.stem): r for r in results if r.eval == "rlvr"}
    n = 0
    for run in runs:
        res = by_file.get((run.run_id, rlvr_eval_name(run.eval_dataset))) if run.eval_dataset else None
        metric = res.metrics.get("pass@1") if res else None
        if metric is None or metric.get("value") is None:
            continue
        run.final_eval = {"value": float(metric["value"]), "stderr": metric.get("stderr"),
                          "n": metric.get("n"), "path": str(res.path)}
        items = read_eval_items(res.path)
        if items is not None:
            run.final_eval["items"] = items
        n += 1
    return n


def read_eval_items(result_path: str | os.PathLike) -> dict | None:
    """{item id: pass rate in percent} from the per-item records beside an RLVR result
    (`<stem>.eval_items.jsonl`: id, samples, correct); None when there are none.

    Raises ValueError naming the file and line for a record without a numeric samples/correct.
    """
    from gift.evals.rlvr.pass_at_k import items_path

    path = items_path(Path(result_path))
    if not path.exists():
        return None
    out = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {i}: not JSON ({err.msg})") from None
            k, c = (rec.get("samples"), rec.get("correct")) if isinstance(rec, dict) else (None, None)
            if not isinstance(k, int | float) or not isinstance(c, int | float) or k <= 0:
                raise ValueError(f"{path}: line {i}: needs numeric 'samples' (> 0) and 'correct'")
            out[str(rec.get("id"))] = 100.0 * float(c) / float(k)
    return out
