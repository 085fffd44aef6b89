"""The jobs' resources: GPUs per training or eval job, and the Slurm resources of a job by model size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gift.grid.config import ConfigError

if TYPE_CHECKING:
    from gift.grid.runs import Grid


def _accelerate_processes(path: str, where: str) -> int:
    """num_processes of an accelerate config file (1 when it does not say)."""
    from gift.files import read_yaml

    try:
        spec = read_yaml(path, "accelerate config") or {}
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    n = spec.get("num_processes", 1) if isinstance(spec, dict) else 1
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"{where}: {path}: num_processes must be a positive integer, got {n!r}")
    return n


def job_gpus(config: dict, backbone: str, role: str) -> int:
    """GPUs one job of `role` (train or eval) on `backbone` holds: 0 on a CPU config.

    `backbones.<b>.gpus.<role>` when set; else the `cluster.resources` row of the backbone's size; else a
    training run takes its accelerate config's num_processes (one process per GPU), and everything else one GPU.
    """
    if config.get("device") != "gpu":
        return 0
    spec = config["backbones"][backbone]
    count = (spec.get("gpus") or {}).get(role)
    if count is not None:
        return int(count)
    rows = (config.get("cluster") or {}).get("resources") or []
    params = spec.get("params_b")
    for row in rows if params is not None else []:
        if params <= row["max_params_b"]:
            return int(row[role]["gpu"])
    if role == "train" and spec.get("accelerate"):
        return _accelerate_processes(spec["accelerate"], f"backbones.{backbone}.accelerate")
    return 1


def train_processes(config: dict, backbone: str) -> int:
    """Processes of one training job on `backbone`: one per GPU the job holds under `accelerate launch` (the
    accelerate config's num_processes on a CPU config), else one."""
    spec = config["backbones"][backbone]
    if not spec.get("accelerate"):
        return 1
    if config.get("device") == "gpu":
        return job_gpus(config, backbone, "train")
    return _accelerate_processes(spec["accelerate"], f"backbones.{backbone}.accelerate")


def threads_per_process(threads: int, processes: int) -> int:
    """OMP_NUM_THREADS of each process: the job's threads shared among its processes (at least one each)."""
    return max(1, int(threads) // max(1, int(processes)))


def check_gpus(config: dict, backbones: list[str]) -> None:
    """On a GPU config a multi-GPU training run has a launcher."""
    if config.get("device") != "gpu":
        return
    for b in backbones:
        spec = config["backbones"][b]
        # explicit counts only: an accelerate file is read where the jobs run (paths are relative to it)
        train = (spec.get("gpus") or {}).get("train") or 1
        if train > 1 and not spec.get("accelerate"):
            raise ConfigError(f"backbones.{b}.gpus.train: {train} GPUs per training run need an `accelerate` "
                              "config (one process per GPU); without one, train on 1")



# Slurm resources of a job when the config has no `cluster.resources` (CPU configs: one core, no GPU).
CPU_JOB = {"gpu": 0, "cpus_per_task": 1, "mem_mb": 4000, "runtime": 720}


def job_resources(grid: Grid, backbone: str, kind: str) -> dict:
    """Slurm resources (gpu, cpus_per_task, mem_mb, runtime in minutes, nodes) of a `train` or `eval` job on
    `backbone`: the first `cluster.resources` row whose max_params_b covers its size. Always one node: a
    training run is one `accelerate launch` of the node's GPUs."""
    rows = (grid.config.get("cluster") or {}).get("resources") or []
    if not rows:
        # one source for GPU counts: what the rules' `gpu` resource holds
        return {**CPU_JOB, "gpu": job_gpus(grid.config, backbone, kind), "nodes": 1}
    params = grid.config["backbones"][backbone].get("params_b")
    if params is None:
        raise ConfigError(f"backbones.{backbone}.params_b: cluster.resources picks a job's resources by model size")
    for row in rows:
        if params <= row["max_params_b"]:
            return {**row[kind], "nodes": 1}
    raise ConfigError(f"cluster.resources: no row covers backbones.{backbone} ({params}B parameters); add one with "
                      f"max_params_b >= {params}")


def unfilled_placeholders(default_resources: list[str] | None) -> list[str]:
    """The `name=<PLACEHOLDER>` entries of a profile's default resources (e.g. the Slurm profile's partition)."""
    import re

    return [arg for arg in default_resources or [] if re.search(r"=\s*['\"]?<[A-Z_]+>", arg)]
