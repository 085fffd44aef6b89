"""The resolved grid: each run with its run config, batch plan, vLLM engine limits and evaluation commands.

GRID.json (read by the report) and `gift grid --json` are written from here.
"""

from __future__ import annotations

from pathlib import Path

from gift.files import write_json
from gift.grid.evals import eval_argv
from gift.grid.job_files import model_path, run_config
from gift.grid.runs import Grid, Model


def grid_entries(grid: Grid) -> list[dict]:
    """GRID.json's entries: one per run (with its figures, panel and variant), one per untrained evaluated model.

    A run that is also an evaluated model carries model_id, model_label and paper_row.
    """
    entries = []
    for run in grid.runs.values():
        panels = {f: m.panel for m in run.memberships for f in m.figures}
        entry = {
            "run_id": run.run_id,
            "run_dir": grid.run_dir(run.run_id),
            "figure": run.figures,
            "panel": next((m.panel for m in run.memberships if m.panel is not None), None),
            "panels": panels,
            "backbone": run.backbone,
            "backbone_label": grid.config["backbones"][run.backbone].get("label", run.backbone),
            "dataset": run.dataset,
            "eval_dataset": run.eval_dataset,
            "method": run.method,
            "variant": run.variant,
            "variant_names": {m.experiment: m.variant_name for m in run.memberships},
            "experiments": list(dict.fromkeys(m.experiment for m in run.memberships)),
            "seed": run.seed,
            "method_args": run.method_args,
            "batch": {"updates_per_rollout_batch": _updates_per_rollout_batch(run.training)},
            "sweep": run.sweep,
            "model_id": None, "model_label": None, "paper_row": None, "tables": [], "evals": {},
        }
        if run.run_id in grid.models:
            entry.update(_model_fields(grid, grid.models[run.run_id]))
        entries.append(entry)
    for model in grid.models.values():
        if model.run_id is None:
            entries.append({"run_id": None, "figure": [], "panel": None, "backbone": model.backbone,
                            "backbone_label": grid.config["backbones"][model.backbone].get("label", model.backbone),
                            "dataset": None, "method": "base", "variant": {}, "seed": None,
                            **_model_fields(grid, model)})
    return entries


def _updates_per_rollout_batch(training: dict) -> int | None:
    """Optimizer updates per rollout batch of a run's global batch sizes (None when it sets TRL's fields)."""
    rollout, optimizer = training.get("rollout_batch_prompts"), training.get("optimizer_batch_prompts")
    return rollout // optimizer if rollout and optimizer else None


def _model_fields(grid: Grid, model: Model) -> dict:
    return {"model_id": model.model_id, "model_label": model.label, "paper_row": model.paper_row,
            "model_path": model_path(grid, model.model_id), "tables": model.tables,
            "evals": {e: grid.eval_path(model.model_id, e) for e in model.evals}}


def write_grid_json(grid: Grid, path: str | Path) -> None:
    """Write GRID.json (see docs/interfaces.md) atomically."""
    write_json(path, {"config": grid.name, "size": grid.config.get("size"), "results": grid.results,
                      "runs": grid_entries(grid)})


def resolved_runs(grid: Grid, world_size: int) -> list[dict]:
    """Every run with what `gift train` would run on `world_size` processes: the run config, the method's
    config fields after the registry defaults and every override, and the derived batch sizes.

    A run whose global batch sizes cannot be met on `world_size` carries `batch_error` instead of `batch`. A run
    that rolls out with vLLM carries `vllm`: the `max_num_seqs` and `max_num_batched_tokens` its engine gets.
    """
    from gift.batching import BatchError, resolve
    from gift.methods import method_config_kwargs
    from gift.run.rollout_engine import rolls_out_with_vllm, run_engine_limits, scheduler_problem

    out = []
    for run in grid.runs.values():
        cfg = run_config(grid, run.run_id)
        method_args = method_config_kwargs(run.method, run.method_args)  # valid: expand checked every run's config
        entry: dict = {"run_id": run.run_id, "experiments": list(dict.fromkeys(m.experiment for m in run.memberships)),
                       "figures": run.figures, "method": run.method, "seed": run.seed, "variant": run.variant}
        try:
            method_args, plan = resolve(method_args, cfg.get("rollout_batch_prompts"),
                                        cfg.get("optimizer_batch_prompts"), cfg.get("micro_batch_prompts"),
                                        world_size)
            entry["batch"] = plan
            if rolls_out_with_vllm(grid.config.get("device"), cfg.get("rollout_backend"), method_args):
                # what its colocated engine is built with; `problem` when vLLM's scheduler would refuse it
                limits = run_engine_limits(method_args)
                problem = scheduler_problem(limits)
                entry["vllm"] = {**limits, **({"problem": problem} if problem else {})}
        except BatchError as err:
            entry["batch"] = None
            entry["batch_error"] = str(err)
        entry["method_args"] = method_args
        entry["run_config"] = cfg
        if run.run_id in grid.models:
            # the final model's evaluations, as the workflow runs them (`gift eval ...`)
            entry["evals"] = {e: eval_argv(grid, run.run_id, e) for e in grid.models[run.run_id].evals}
        out.append(entry)
    return out
