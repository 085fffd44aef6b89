"""The evaluation jobs of a grid: the `gift eval` command line of each (model, eval), and the job files of a
config that runs several evaluations in one process (`evals_per_job`).

One source for the workflow's eval rules and `gift eval many`: an evaluation run alone (one job per eval)
and one run inside a grouped job get the same arguments.
"""

from __future__ import annotations

import hashlib
import json

from gift.files import write_text_if_changed
from gift.grid.job_files import model_path, model_source, reward_model_source, split_path
from gift.grid.resources import job_gpus
from gift.grid.runs import RLVR_PREFIX, Grid, rlvr_dataset

# `gift eval <command>` of each eval kind.
EVAL_COMMANDS = {"rlvr": "rlvr", "lm_eval": "lm-eval", "alpaca_eval": "alpaca", "arena_hard": "arena-hard"}

# Options of `evaluation.<kind>` that every model's eval of that kind gets, as command-line flags.
OPTION_FLAGS = {"k": "--k", "temperature": "--temperature", "max_new_tokens": "--max-new-tokens", "limit": "--limit",
                "paper_judge": "--paper-judge", "judge_prompts": "--judge-prompts", "df_gamed": "--df-gamed"}


def eval_kind(eval_name: str) -> str:
    """rlvr for rlvr_<dataset>, else the eval name itself (lm_eval, alpaca_eval, arena_hard)."""
    return "rlvr" if eval_name.startswith(RLVR_PREFIX) else eval_name


def twins_dir(grid: Grid) -> str:
    """Where the workflow writes the local twins of the lm-eval tasks."""
    return f"{grid.results}/lm_eval_twins"


def lm_eval_tasks(grid: Grid) -> str:
    """`--tasks` of lm-eval: the paper's tasks, or the twins the workflow materialises."""
    return "paper" if grid.config["evaluation"]["lm_eval"]["tasks"] == "paper" else f"twins:{twins_dir(grid)}"


def eval_model_arg(grid: Grid, model_id: str) -> str:
    """`--model` of an eval: a run's final/ directory, a built backbone's directory, or an untrained hub backbone as
    `owner/name@revision` (the eval resolves it to the directory `gift fetch` downloaded)."""
    model = grid.models[model_id]
    if model.run_id is None:
        source, revision = model_source(grid, model.backbone)
        if revision:
            return f"{source}@{revision}"
    return model_path(grid, model_id)


def judge_arg(grid: Grid, kind: str) -> str:
    """`reward-model:DIR[@REV]` for a reward-model judge (the config names the model), `api:NAME` as is."""
    judge = str(grid.config["evaluation"][kind]["judge"])
    if judge.startswith("reward-model:"):
        source, revision = reward_model_source(grid, judge.split(":", 1)[1])
        return f"reward-model:{source}@{revision}" if revision else f"reward-model:{source}"
    return judge


def eval_options(grid: Grid, kind: str) -> list[str]:
    """Flags from `evaluation.<kind>` shared by every model's eval of that kind."""
    spec = grid.config["evaluation"].get(kind, {})
    out: list[str] = []
    for key, value in spec.items():
        if key in OPTION_FLAGS and value is not None:
            out += [OPTION_FLAGS[key], str(value)]
    return out


def rlvr_max_new_tokens(grid: Grid, model_id: str) -> int | None:
    """The answer budget of a final RLVR evaluation: evaluation.rlvr.max_new_tokens, or (null) the training
    response length of the run that made the model (verl validates at data.max_response_length)."""
    spec = grid.config["evaluation"].get("rlvr") or {}
    if spec.get("max_new_tokens") is not None:
        return int(spec["max_new_tokens"])
    run_id = grid.models[model_id].run_id
    if run_id is None:
        return None
    from gift.grid.runs import method_defaults

    run = grid.runs[run_id]
    value = {**method_defaults(run.method), **run.method_args}.get("max_completion_length")
    return int(value) if value else None


def rlvr_protocol_options(grid: Grid, model_id: str) -> list[str]:
    """`gift eval rlvr` flags that follow verl's validation: greedy unless evaluation.rlvr.greedy is false, at the
    training response length unless evaluation.rlvr.max_new_tokens names one."""
    spec = grid.config["evaluation"].get("rlvr") or {}
    out = [] if spec.get("greedy", True) else ["--no-greedy"]
    if spec.get("max_new_tokens") is None:
        tokens = rlvr_max_new_tokens(grid, model_id)
        if tokens:
            out += ["--max-new-tokens", str(tokens)]
    return out


def eval_argv(grid: Grid, model_id: str, eval_name: str) -> list[str]:
    """The arguments after `gift eval` that evaluate one model on one eval and write `grid.eval_path`."""
    kind = eval_kind(eval_name)
    config = grid.config
    spec = config["evaluation"].get(kind, {})
    out = grid.eval_path(model_id, eval_name)
    argv = [EVAL_COMMANDS[kind], "--model", eval_model_arg(grid, model_id), "--model-id", model_id]
    if kind == "rlvr":
        argv += ["--data", split_path(grid, rlvr_dataset(eval_name), "eval"), "--out", out,
                 *eval_options(grid, kind), *rlvr_protocol_options(grid, model_id)]
    elif kind == "lm_eval":
        argv += ["--tasks", lm_eval_tasks(grid)]
        if spec.get("limit"):
            argv += ["--limit", str(spec["limit"])]
        if spec.get("batch_size"):
            argv += ["--batch-size", str(spec["batch_size"])]
        argv += ["--device", "cuda" if config["device"] == "gpu" else "cpu", "--out", out]
        gpus = job_gpus(config, grid.models[model_id].backbone, "eval")
        if gpus > 1:  # vLLM splits the model over the job's GPUs (lm-eval's own default is one)
            argv += ["--tensor-parallel-size", str(gpus)]
        if spec.get("model_args"):
            argv += ["--model-args", json.dumps(spec["model_args"], sort_keys=True)]
    elif kind == "alpaca_eval":
        argv += ["--instructions", str(spec["instructions"]), "--judge", judge_arg(grid, kind), "--out", out,
                 *eval_options(grid, kind)]
    elif kind == "arena_hard":
        argv += ["--questions", str(spec["questions"])]
        if spec.get("baseline_answers"):
            argv += ["--baseline-answers", *map(str, spec["baseline_answers"])]
        argv += ["--judge", judge_arg(grid, kind), "--out", out, *eval_options(grid, kind)]
    else:  # pragma: no cover - EVAL_KINDS is closed
        raise ValueError(f"unknown eval {eval_name!r}")
    backend = config["evaluation"].get("backend", "auto")
    if backend != "auto":
        argv += ["--backend", backend]
    return argv


def eval_log(grid: Grid, model_id: str, eval_name: str) -> str:
    """The log of one evaluation (its output and errors)."""
    return f"{grid.results}/logs/evals/{model_id}/{eval_name}.log"


def eval_job_spec(grid: Grid, job_id: str) -> dict:
    """What `gift eval many --job` reads: the evaluations of one grouped job, each with its arguments and log."""
    return {"job_id": job_id,
            "evals": [{"model_id": m, "eval": e, "argv": eval_argv(grid, m, e), "out": grid.eval_path(m, e),
                       "log": eval_log(grid, m, e)} for m, e in grid.eval_jobs[job_id]]}


def write_eval_job(grid: Grid, job_id: str, only_if_changed: bool = False) -> bool:
    """Write one grouped eval job's file atomically; with `only_if_changed`, leave a file with the same content
    alone. Returns whether the file was written."""
    return write_text_if_changed(grid.eval_job_file(job_id), json.dumps(eval_job_spec(grid, job_id), indent=2) + "\n",
                                 only_if_changed)


def argv_digest(argv: list[str]) -> str:
    """A short fingerprint of an eval's arguments: a grouped job redoes an eval whose arguments changed."""
    return hashlib.sha256(json.dumps(list(argv)).encode()).hexdigest()[:16]
