"""Helpers shared by the rules: the grid (gift.grid), paths, input functions, resources and commands."""

import hashlib
import os
import re
import shlex
import sys

# `gift_grid` and GRID come from the Snakefile (from the checkout, or the installed package).
from gift.grid import evals as grid_evals  # noqa: E402

# A config with a local hub mirror (the rehearsal) serves its hub ids from that cache (set for every step
# when the workflow starts: `start`).
MIRROR_HOME = os.path.abspath(config["mirror"]["hf_home"]) if config.get("mirror") else None

# Model-written code (MBPP) runs only in the sandbox: without full isolation the workflow stops at its start,
# before any job, unless the config accepts weaker containment (`start`; lm-eval jobs check again).
SANDBOX_ON_MISSING = config.get("sandbox", {}).get("on_missing") or os.environ.get("GIFT_SANDBOX_ON_MISSING") or "refuse"

# What the config reads from the hub or the web (nothing for built models and twins): `gift fetch` gets it
# first (rule fetch, on the submitting host), then every job runs offline from the fetched copies.
from gift.hub import fetch as gift_fetch

NEEDS = gift_fetch.needs(config)
if NEEDS:
    shell.prefix("set -euo pipefail; export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1; "
                 + (f"export HF_HOME={MIRROR_HOME}; " if MIRROR_HOME else ""))

NAME = GRID.name
RESULTS = GRID.results
LOGS = f"{RESULTS}/logs"
# One Snakemake benchmark TSV per job (wall and CPU time, peak memory); the report lists the slowest.
BENCH = f"{RESULTS}/benchmarks"
# The interpreter that runs Snakemake runs every step (the shell commands call "$GIFT_PYTHON"), so a
# virtualenv works without being activated. Under --software-deployment-method conda a step runs in the
# rule's environment instead, whose `python` comes first on PATH. An environment variable rather than a
# param: a changed param reruns a job, and the same workflow run from another environment must not redo
# finished work. (Cluster jobs parse this file again with the same interpreter.)
_CONDA = "conda" in {str(m).lower() for m in workflow.deployment_settings.deployment_method}
os.environ["GIFT_PYTHON"] = "python" if _CONDA else sys.executable


envvars:
    "GIFT_PYTHON",


# On a GPU config the GPU-using rules (train, the evaluations) declare a `gpu` resource, so that
# `--resources gpu=8` runs as many of them at once as there are GPUs, and run under `gift gpus run`, which
# gives each job devices no other running job holds (CUDA_VISIBLE_DEVICES). Under Slurm, which assigns the
# devices itself, the wrapper runs the command as is. Nothing changes on a CPU config.
GPUS_RUN = '"$GIFT_PYTHON" -m gift.cli gpus run --gpus {resources.gpu} -- ' if config["device"] == "gpu" else ""

# Every step runs in this environment when --software-deployment-method conda is given: on GPU nodes with
# vLLM and DeepSpeed (the accelerate configs of the paper's backbones need DeepSpeed).
CONDA_ENV = "envs/gift-gpu.yaml" if config.get("device") == "gpu" else "envs/gift.yaml"


def step(command, env="", gpus=False, append=False, then=""):
    """A rule's shell command: COMMAND (a step script or `-m gift.cli ...`, with its arguments) run by the
    workflow's interpreter, its output and errors into the job's log (appended to with `append`: a resubmitted
    job keeps every attempt's log). ENV (`NAME=VALUE `) goes first; `gpus`: under `gift gpus run` on a GPU
    config; THEN runs once the step has succeeded."""
    redirect = ">>" if append else ">"
    after = f" && {then}" if then else ""
    return f'{env}{GPUS_RUN if gpus else ""}"$GIFT_PYTHON" {command} {redirect} {{log}} 2>&1{after}'


def job_resources(resource, gpu):
    """The resources of a training or evaluation job: CPUs, memory and time limit from `resource(name)` (per
    model size, the config's cluster.resources), one node, and `gpu` GPUs (0 on a CPU config)."""
    return {
        "cpus_per_task": resource("cpus_per_task"),
        "mem_mb": resource("mem_mb"),
        "runtime": resource("runtime"),
        "nodes": 1,
        "gpu": gpu,
    }


def start():
    """What happens once, before the first job (not in a dry run): the hub mirror's cache for every step, the
    sandbox's check, and the files the jobs read."""
    if MIRROR_HOME:
        # before any Hugging Face library reads its cache location: the steps run here (fetch, the mirror)
        # and every job started from here inherit it
        os.environ.update({"HF_HOME": MIRROR_HOME})
    check_sandbox()
    write_job_files()


def check_sandbox():
    """Stop before any job when an lm-eval evaluation would run model-written code without full isolation."""
    if not any(kind == "lm_eval" for _, kind in GRID.eval_targets()):
        return
    from gift.sandbox import SandboxUnavailable, require_isolation

    try:
        require_isolation(SANDBOX_ON_MISSING)
    except SandboxUnavailable as err:
        raise ValueError(str(err)) from None


def _alternatives(names):
    """A wildcard constraint matching exactly these names (nothing when there are none)."""
    names = sorted(set(names))
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def preflight():
    """What a compute job waits for: the fetched hub items, and on GPU configs the doctor's all-clear."""
    out = [f"{RESULTS}/fetch.json"] if NEEDS else []
    if config.get("device") == "gpu":
        out.append(f"{RESULTS}/doctor.txt")
    return out


# ---- data -------------------------------------------------------------------------------------


def data_dir(dataset):
    return GRID.data_dir(dataset)


def prepare_args(wildcards):
    """`gift data prepare` options of a dataset: source, reward, local path, hub subset, per-split limits."""
    spec = config["datasets"][wildcards.dataset]
    # the examples carry the reward that the RLVR evaluations score them with
    args = ["--source", spec["source"], "--reward", spec["reward"]]
    if spec.get("path"):
        args += ["--path", spec["path"]]
    if spec.get("hub_config"):
        args += ["--config", spec["hub_config"]]
    if spec.get("limits"):
        args += ["--limit", *(f"{split}={n}" for split, n in spec["limits"].items())]
    if spec.get("selection"):
        args += ["--selection", str(spec["selection"])]
    return " ".join(args)


# ---- models -----------------------------------------------------------------------------------


def build_spec(name):
    spec = config["backbones"].get(name) or config["reward_models"][name]
    return spec["build"]


def build_inputs(wildcards):
    return [data_dir(d) for d in build_spec(wildcards.model)["data"]]


def build_kind(wildcards):
    return "tiny-backbone" if wildcards.model in config["backbones"] else "tiny-reward-model"


def model_inputs(backbone):
    """What must exist before a backbone can be loaded (its build, when the workflow makes it)."""
    return [GRID.model_dir(backbone)] if config["backbones"][backbone].get("build") else []


def reward_model_inputs(name):
    if not name:
        return []
    return [GRID.model_dir(name)] if config["reward_models"][name].get("build") else []


# ---- training ---------------------------------------------------------------------------------


def run_config_path(run_id):
    return f"{RESULTS}/run_configs/{run_id}.yaml"


def write_job_files():
    """The files the jobs read, written before the first job starts: run configs and grouped eval jobs."""
    write_run_configs()
    write_eval_jobs()


def write_run_configs():
    """Every run's RUN.yaml, written before the first job (a file whose content is unchanged is left alone).

    No job each: a job per file cost a Python start and a parse of the workflow for a few lines of YAML.
    The train rule carries the resolved run config as a param, so a changed config still reruns its run.
    """
    for run_id in GRID.runs:
        gift_grid.write_run_config(GRID, run_id, run_config_path(run_id), only_if_changed=True)


def job_runs(wildcards):
    """The runs a training job trains, in order (one unless the config sets runs_per_job)."""
    return [GRID.runs[r] for r in GRID.train_jobs[wildcards.job_id]]


def train_inputs(wildcards):
    runs = job_runs(wildcards)
    data = []
    for run in runs:
        for d in (run.dataset, run.eval_dataset):
            if d and data_dir(d) not in data:
                data.append(data_dir(d))
    # the runs of a job share their backbone and reward model (Grid.train_jobs)
    return {
        "data": data,
        "models": [*model_inputs(runs[0].backbone), *reward_model_inputs(runs[0].reward_model)],
        "preflight": preflight(),
    }


def train_configs(wildcards):
    """`--config` of each run of a training job."""
    return " ".join(f"--config {run_config_path(run.run_id)}" for run in job_runs(wildcards))


def train_launcher(wildcards):
    """`accelerate launch` with the backbone's config (DeepSpeed/FSDP on GPUs, one process per GPU the job
    holds; two gloo ranks in the rehearsal); nothing (one process) when the backbone names none.

    The rule puts the interpreter in front, so that the launcher is the one installed beside gift.
    """
    run = job_runs(wildcards)[0]
    accel = config["backbones"][run.backbone].get("accelerate")
    if accel:
        # a port per job: jobs sharing a host (the rehearsal's CPU ranks) must not meet on accelerate's default
        port = 20000 + int(hashlib.sha1(wildcards.job_id.encode()).hexdigest(), 16) % 20000
        procs = f"--num_processes {train_gpus(wildcards)} " if config["device"] == "gpu" else ""
        return f"-m accelerate.commands.launch --config_file {accel} {procs}--main_process_port {port} "
    return ""


def train_omp_threads(wildcards, threads):
    """OMP_NUM_THREADS of each process of a training job: the job's threads shared by its ranks."""
    return gift_grid.threads_per_process(threads, gift_grid.train_processes(config, job_runs(wildcards)[0].backbone))


def train_gpus(wildcards):
    """The `gpu` resource of a training job (0 on a CPU config)."""
    return gift_grid.job_gpus(config, job_runs(wildcards)[0].backbone, "train")


def grouped_resource(name, role, backbones):
    """One Slurm resource of a job that runs several items in turn (`backbones(wildcards)`: each item's backbone,
    all the same), by that backbone's size (config cluster.resources); the time limit is per item, times the
    items."""

    def resource(wildcards):
        items = backbones(wildcards)
        value = gift_grid.job_resources(GRID, items[0], role)[name]
        return value * len(items) if name == "runtime" else value

    return resource


def train_resource(name):
    """One Slurm resource of a training job: per run, the time limit times the runs of the job."""
    return grouped_resource(name, "train", lambda wildcards: [run.backbone for run in job_runs(wildcards)])


def eval_resource(name):
    """One Slurm resource of an evaluation job, by the evaluated model's backbone."""
    return lambda wildcards: gift_grid.job_resources(GRID, GRID.models[wildcards.model_id].backbone, "eval")[name]


# A training run longer than a job's time limit is resubmitted and goes on from its last checkpoint.
TRAIN_REQUEUES = int((config.get("cluster") or {}).get("requeues", 0))


def run_done(run_id):
    """The flag of the training job that trains a run (written once each of the job's runs is DONE)."""
    return GRID.train_done(GRID.train_job(run_id))


def runs_done(run_ids):
    """The training-job flags of these runs, each once."""
    return list(dict.fromkeys(run_done(r) for r in run_ids))


# ---- evaluation -------------------------------------------------------------------------------


def model_eval_inputs(model_id):
    """A trained model's DONE flag, or what its untrained backbone needs."""
    model = GRID.models[model_id]
    if model.run_id:
        return [run_done(model.run_id), *preflight()]
    return [*model_inputs(model.backbone), *preflight()]


def eval_needs(model_id, eval_name):
    """What one evaluation waits for: its model and, by the eval's kind, the prepared split (RLVR), the lm-eval
    twins (configs without the paper's tasks) or the judge (AlpacaEval, Arena-Hard)."""
    kind = grid_evals.eval_kind(eval_name)
    out = model_eval_inputs(model_id)
    if kind == "rlvr":
        out.append(data_dir(gift_grid.rlvr_dataset(eval_name)))
    elif kind == "lm_eval" and grid_evals.lm_eval_tasks(GRID) != "paper":
        out.append(twins_dir())
    elif kind in ("alpaca_eval", "arena_hard"):
        out += judge_inputs(kind)
    return out


def eval_inputs(wildcards):
    return eval_needs(wildcards.model_id, wildcards.eval)


def eval_script(eval_name):
    """The step script that runs an evaluation of this name: evals/<kind>.py."""
    return f"evals/{grid_evals.eval_kind(eval_name)}.py"


def eval_gpus(wildcards):
    """The `gpu` resource of an evaluation (0 on a CPU config)."""
    return gift_grid.job_gpus(config, GRID.models[wildcards.model_id].backbone, "eval")


def eval_argv(model_id, eval_name):
    """The arguments of an evaluation's step script (those after `gift eval KIND`; gift.grid.evals: the same
    whether it runs alone or in a grouped job), quoted for the shell."""
    return shlex.join(grid_evals.eval_argv(GRID, model_id, eval_name)[1:])


def eval_env(eval_name):
    """The environment an evaluation runs with: lm-eval's MBPP runs model-written code in the sandbox."""
    return f"GIFT_SANDBOX_ON_MISSING={SANDBOX_ON_MISSING} " if grid_evals.eval_kind(eval_name) == "lm_eval" else ""


def judge_inputs(kind):
    """What a judge evaluation waits for: its reward model, or an API judge's check (rule judge)."""
    judge = str(config["evaluation"].get(kind, {}).get("judge", ""))
    if judge.startswith("reward-model:"):
        return reward_model_inputs(judge.split(":", 1)[1])
    if judge.startswith("api:"):
        return [f"{RESULTS}/judge-{kind}.txt"]
    return []


def twins_dir():
    return grid_evals.twins_dir(GRID)


# ---- grouped evaluations (evals_per_job > 1) ------------------------------------------------------


def write_eval_jobs():
    """Every grouped eval job's file, written before the first job (a file whose content is unchanged is left
    alone); nothing when each evaluation is a job of its own."""
    if GRID.grouped_evals:
        for job_id in GRID.eval_jobs:
            grid_evals.write_eval_job(GRID, job_id, only_if_changed=True)


def eval_job_inputs(wildcards):
    """What every evaluation of a grouped job needs: its models, data, judges and the lm-eval twins."""
    out = [need for model_id, name in GRID.eval_jobs[wildcards.eval_job] for need in eval_needs(model_id, name)]
    return list(dict.fromkeys(out))


def eval_job_resource(name):
    """One Slurm resource of a grouped eval job: per evaluation, the time limit times the evaluations of the job."""
    return grouped_resource(
        name, "eval", lambda wildcards: [GRID.models[m].backbone for m, _ in GRID.eval_jobs[wildcards.eval_job]])


def eval_outputs(targets):
    """What the rules that read these evaluations wait for: the result files, or in a config with grouped
    evaluations the flags of the jobs that write them (the rules pass the result paths as params)."""
    if GRID.grouped_evals:
        return list(dict.fromkeys(GRID.eval_done(GRID.eval_job(m, e)) for m, e in targets))
    return [GRID.eval_path(m, e) for m, e in targets]


# ---- report -----------------------------------------------------------------------------------


def figure_run_dirs(wildcards):
    return [GRID.run_dir(r) for r in GRID.figure_runs(wildcards.figure)]


def figure_inputs(wildcards):
    return runs_done(GRID.figure_runs(wildcards.figure))


def table_evals(wildcards):
    """The result files a table reads."""
    return [GRID.eval_path(m, e) for m, e in GRID.table_evals(wildcards.table)]


def table_eval_inputs(wildcards):
    return eval_outputs(GRID.table_evals(wildcards.table))


def all_evals():
    return [GRID.eval_path(m, e) for m, e in GRID.eval_targets()]


FIGURE_EXTS = ("png", "pdf")
TABLE_EXTS = ("csv", "md", "tex")


def all_outputs():
    """Every file the config asks for: runs, evaluations, figures, tables, the grid and REPORT.md."""
    out = runs_done(GRID.runs)
    out += eval_outputs(GRID.eval_targets())
    out += [f"{RESULTS}/figures/{f}.{ext}" for f in GRID.figures() for ext in FIGURE_EXTS]
    out += [f"{RESULTS}/tables/{t}.{ext}" for t in GRID.tables() for ext in TABLE_EXTS]
    out += [f"{RESULTS}/grid.json", f"{RESULTS}/REPORT.md"]
    return out
