"""What a grid's jobs read and write: model sources, data splits, each run's RUN.yaml, GRID.json, resolved runs."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from gift.grid_runs import TRAINING_KEYS, Grid, Model, Run
from gift.io import write_json, write_text_if_changed


def _source(grid: Grid, section: str, name: str) -> tuple[str, str | None]:
    """(path or hub id, revision) of a model of `section`: a directory the workflow builds, a local path or a
    hub id."""
    spec = grid.config[section][name]
    if spec.get("build"):
        return grid.model_dir(name), None
    if spec.get("path"):
        return spec["path"], None
    return spec["hub"], spec.get("revision", "main")


def model_source(grid: Grid, backbone: str) -> tuple[str, str | None]:
    """(path or hub id, revision) of a backbone."""
    return _source(grid, "backbones", backbone)


def reward_model_source(grid: Grid, name: str) -> tuple[str, str | None]:
    """(path or hub id, revision) of a reward model."""
    return _source(grid, "reward_models", name)


def model_path(grid: Grid, model_id: str) -> str:
    """What `gift eval --model` gets: a run's final/ directory or the backbone's path or hub id."""
    model = grid.models[model_id]
    if model.run_id:
        return f"{grid.run_dir(model.run_id)}/final"
    return model_source(grid, model.backbone)[0]


def split_path(grid: Grid, dataset: str, role: str) -> str:
    """The prepared JSONL a run trains or is evaluated on (`role` is train, eval or selection)."""
    spec = grid.config["datasets"][dataset]
    if role == "selection":
        return f"{grid.results}/data/{dataset}/selection.jsonl"
    split = spec.get("train_split", "train") if role == "train" else spec.get("eval_split", "test")
    return f"{grid.data_dir(dataset)}/{split}.jsonl"


def run_config(grid: Grid, run_id: str) -> dict:
    """The RUN.yaml `gift train --config` reads for one run."""
    return run_config_of(grid, grid.runs[run_id])


def run_config_of(grid: Grid, run: Run) -> dict:
    """The RUN.yaml of `run`, which the grid need not hold yet (expansion checks each run before adding it)."""
    model, revision = model_source(grid, run.backbone)
    out = {
        "run_id": run.run_id,
        "method": run.method,
        "model": model,
        "model_revision": revision,
        "train_data": split_path(grid, run.dataset, "train"),
        "eval_data": split_path(grid, run.eval_dataset, "eval") if run.eval_dataset else None,
        **({"selection_data": split_path(grid, run.selection_dataset, "selection")} if run.selection_dataset else {}),
        "reward": run.reward,
        "reward_model": reward_model_source(grid, run.reward_model)[0] if run.reward_model else None,
        "reward_model_revision": reward_model_source(grid, run.reward_model)[1] if run.reward_model else None,
        "seed": run.seed,
        "output_dir": grid.run_dir(run.run_id),
        **{k: run.training[k] for k in TRAINING_KEYS if k in run.training},
        "method_args": copy.deepcopy(run.method_args),
    }
    if not run.eval_dataset:
        # RLHF runs have no held-out pass@1: the periodic eval and its settings do not apply.
        out["eval_every"] = 0
        for key in ("eval_limit", "eval_k", "eval_temperature", "eval_max_new_tokens", "eval_greedy"):
            out.pop(key, None)
    return out


def write_run_config(grid: Grid, run_id: str, path: str | Path, only_if_changed: bool = False) -> bool:
    """Write one run's RUN.yaml atomically; with `only_if_changed`, leave a file with the same content alone.

    Returns whether the file was written.
    """
    return write_text_if_changed(path, yaml.safe_dump(run_config(grid, run_id), sort_keys=False), only_if_changed)


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
    from gift.rollout_engine import rolls_out_with_vllm, run_engine_limits, scheduler_problem

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
            from gift.grid_evals import eval_argv

            # the final model's evaluations, as the workflow runs them (`gift eval ...`)
            entry["evals"] = {e: eval_argv(grid, run.run_id, e) for e in grid.models[run.run_id].evals}
        out.append(entry)
    return out
