"""The experiment grid: one source for the Snakefile, the tests, `gift estimate` and the report scripts.

- `config`: the workflow config before expansion (read, schema-checked, names cross-checked);
- `expansion`: the config expanded into runs, evaluated models and evaluations; `gift grid`, `gift config check`;
- `runs`: the records (Run, Model, Membership, Grid) and the layout of results/<cfg>/;
- `job_files`: what the jobs read and write (model sources, data splits, run configs);
- `resolved`: each run resolved (run config, batch plan, vLLM limits, eval commands): GRID.json, `gift grid --json`;
- `resources`: GPUs per job and Slurm resources by model size;
- `evals`: the `gift eval` command line of each evaluation and the job files of grouped evaluations.

The names below are the package's public seam, the ones the workflow and the commands read as `gift.grid.*`.
"""

from gift.grid.config import SCHEMA_PATH, ConfigError, apply_typed_overrides, load_checked, load_config, validate
from gift.grid.expansion import expand
from gift.grid.job_files import run_config, write_run_config
from gift.grid.resolved import grid_entries, resolved_runs, write_grid_json
from gift.grid.resources import job_gpus, job_resources, threads_per_process, train_processes, unfilled_placeholders
from gift.grid.runs import TRAINING_KEYS, Grid, Run, method_defaults, rlvr_dataset, rlvr_eval_name

__all__ = [
    "SCHEMA_PATH", "TRAINING_KEYS", "ConfigError", "Grid", "Run", "apply_typed_overrides",
    "expand", "grid_entries", "job_gpus", "job_resources", "load_checked", "load_config", "method_defaults",
    "resolved_runs", "rlvr_dataset", "rlvr_eval_name", "run_config", "threads_per_process", "train_processes",
    "unfilled_placeholders", "validate", "write_grid_json", "write_run_config",
]
