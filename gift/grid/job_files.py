"""What a grid's jobs read and write: model sources, data splits and each run's run config."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from gift.files import write_text_if_changed
from gift.grid.runs import TRAINING_KEYS, Grid, Run


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
