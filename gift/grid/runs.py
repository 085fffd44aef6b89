"""The expanded grid's records: runs, evaluated models, and the Grid with the layout of results/<cfg>/."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

from gift.grid.config import ConfigError
from gift.methods import get_method

# Eval kinds an experiment may ask for, and the file each writes under results/<cfg>/evals/<model_id>/.
EVAL_KINDS = ("rlvr", "lm_eval", "alpaca_eval", "arena_hard")
RLVR_PREFIX = "rlvr_"


def rlvr_eval_name(dataset: str) -> str:
    """The eval name (and file stem) of pass@1 on `dataset`: rlvr_<dataset>."""
    return f"{RLVR_PREFIX}{dataset}"


def rlvr_dataset(eval_name: str) -> str:
    """The dataset of an RLVR eval name (rlvr_<dataset> -> <dataset>): rlvr_eval_name's inverse."""
    return eval_name[len(RLVR_PREFIX):]

# Keys of the trainer's run config that come from the `training` sections (the rest is derived).
TRAINING_KEYS = ("max_steps", "num_train_epochs", "eval_every", "cadence_unit", "eval_limit", "save_every",
                 "save_total_limit",
                 "max_prompt_length", "train_limit", "eval_k", "eval_temperature", "eval_max_new_tokens", "eval_greedy",
                 "rollout_batch_prompts", "optimizer_batch_prompts", "micro_batch_prompts", "report_to",
                 "log_samples_every")


def method_defaults(method: str) -> dict:
    """The registry's paper defaults of a method (what a run gets for every field its config leaves out)."""
    try:
        return dict(get_method(method).defaults)
    except ValueError as err:
        raise ConfigError(f"methods.{method}: {err}") from None


@dataclass(frozen=True)
class Membership:
    """A run's place in one experiment: the figure it is drawn in, its panel and the variant that asked for it."""

    experiment: str
    figures: tuple[str, ...]
    panel: str | None
    variant_name: str
    variant: dict


@dataclass
class Run:
    """One training run: everything `gift train` needs, plus where the figures draw it."""

    run_id: str
    backbone: str
    dataset: str
    eval_dataset: str | None
    method: str
    seed: int
    method_args: dict
    training: dict
    reward: str
    reward_model: str | None
    memberships: list[Membership] = field(default_factory=list)
    selection_dataset: str | None = None
    """The dataset whose held-out selection split the run also evaluates (runs of a sweep)."""
    sweep: dict | None = None
    """A sweep point: {experiment, arg, value, default, arm, select} (see `expand`)."""

    @property
    def figures(self) -> list[str]:
        out: list[str] = []
        for m in self.memberships:
            out += [f for f in m.figures if f not in out]
        return out

    @property
    def variant(self) -> dict:
        """The union of the variant settings every membership declared (the run's coordinates on each axis)."""
        out: dict = {}
        for m in self.memberships:
            out.update(m.variant)
        return out

    def identity(self) -> str:
        """Everything that makes two runs the same run, as canonical JSON (method args over the registry's defaults)."""
        args = {**method_defaults(self.method), **self.method_args}
        return json.dumps([self.backbone, self.dataset, self.eval_dataset, self.method, self.seed, args,
                           self.training, self.reward, self.reward_model, self.selection_dataset],
                          sort_keys=True, default=str)


@dataclass
class Model:
    """A model that is evaluated: a run's final checkpoint or an untrained backbone (the tables' "Instruct" rows)."""

    model_id: str
    backbone: str
    run_id: str | None
    method: str
    seed: int | None
    label: str
    paper_row: str | None
    evals: list[str] = field(default_factory=list)
    """Eval names: rlvr_<dataset>, lm_eval, alpaca_eval, arena_hard."""
    tables: list[str] = field(default_factory=list)


@dataclass
class Grid:
    """The expanded config."""

    name: str
    config: dict
    runs: dict[str, Run]
    models: dict[str, Model]

    # The layout of results/<cfg>/ (docs/interfaces.md); the workflow's rules take their paths from here.
    # Each method also takes a wildcard pattern such as "{dataset}".
    @property
    def results(self) -> str:
        return f"results/{self.name}"

    def data_dir(self, dataset: str) -> str:
        return f"{self.results}/data/{dataset}"

    def model_dir(self, name: str) -> str:
        """A backbone or reward model the workflow builds."""
        return f"{self.results}/models/{name}"

    def run_dir(self, run_id: str) -> str:
        return f"{self.results}/runs/{run_id}"

    @cached_property
    def train_jobs(self) -> dict[str, list[str]]:
        """Training jobs: job id -> the run ids one `gift train` process trains in turn.

        The runs on one backbone and reward model (so that a job's inputs and resources are those of each of
        its runs), in grid order, `runs_per_job` (default 1) at a time; a job's id is its first run's id,
        followed by `+<n>` when it trains n more.
        """
        shared: dict[tuple, list[str]] = {}
        for run in self.runs.values():
            shared.setdefault((run.backbone, run.reward_model), []).append(run.run_id)
        return _jobs(shared.values(), int(self.config.get("runs_per_job", 1)), str)

    def train_job(self, run_id: str) -> str:
        """The id of the training job that trains a run."""
        for job_id, run_ids in self.train_jobs.items():
            if run_id in run_ids:
                return job_id
        raise KeyError(run_id)

    def train_done(self, job_id: str) -> str:
        """The flag a training job writes when every run it trains is complete."""
        return f"{self.results}/train_jobs/{job_id}.done"

    def eval_path(self, model_id: str, eval_name: str) -> str:
        return f"{self.results}/evals/{model_id}/{eval_name}.json"

    @property
    def grouped_evals(self) -> bool:
        """Whether the config runs several evaluations per process (`evals_per_job` > 1)."""
        return int(self.config.get("evals_per_job", 1)) > 1

    @cached_property
    def eval_jobs(self) -> dict[str, list[tuple[str, str]]]:
        """Evaluation jobs: job id -> the (model_id, eval_name) one `gift eval many` process runs in turn.

        The evaluations of models on one backbone (so that a job's resources are those of each of its evals),
        untrained models first, then in the order of the training jobs that make the models (a job waits for
        few training jobs), `evals_per_job` (default 1) at a time. A job's id is its first eval's
        `<model_id>.<eval_name>`, followed by `+<n>` when it runs n more.
        """
        job_order = {run_id: i for i, run_ids in enumerate(self.train_jobs.values()) for run_id in run_ids}

        def rank(target: tuple[str, str]) -> int:
            run_id = self.models[target[0]].run_id
            return -1 if run_id is None else job_order[run_id]

        shared: dict[str, list[tuple[str, str]]] = {}
        for target in sorted(self.eval_targets(), key=rank):
            shared.setdefault(self.models[target[0]].backbone, []).append(target)
        return _jobs(shared.values(), int(self.config.get("evals_per_job", 1)), lambda t: f"{t[0]}.{t[1]}")

    def eval_job(self, model_id: str, eval_name: str) -> str:
        """The id of the evaluation job that runs one evaluation."""
        for job_id, targets in self.eval_jobs.items():
            if (model_id, eval_name) in targets:
                return job_id
        raise KeyError((model_id, eval_name))

    def eval_job_file(self, job_id: str) -> str:
        """The JSON file `gift eval many --job` reads (written before the first job starts)."""
        return f"{self.results}/eval_jobs/{job_id}.json"

    def eval_done(self, job_id: str) -> str:
        """The flag an evaluation job writes when every evaluation it runs has written its result."""
        return f"{self.results}/eval_jobs/{job_id}.done"

    def eval_targets(self) -> list[tuple[str, str]]:
        """(model_id, eval_name) of every evaluation the config asks for."""
        return [(m.model_id, e) for m in self.models.values() for e in m.evals]

    def skipped_evals(self) -> dict[str, list[str]]:
        """Eval kinds some experiment asks for that the config has no `evaluation` section for."""
        return skipped_evals(self.config)

    def datasets_used(self) -> list[str]:
        """Datasets some rule reads: training and eval data, tiny-model warm-start data."""
        used: list[str] = []

        def add(name: str | None) -> None:
            if name and name not in used:
                used.append(name)

        for r in self.runs.values():
            add(r.dataset)
            add(r.eval_dataset)
        for m in self.models.values():
            for e in m.evals:
                if e.startswith(RLVR_PREFIX):
                    add(rlvr_dataset(e))
        for spec in list(self.config["backbones"].values()) + list(self.config.get("reward_models", {}).values()):
            for d in (spec.get("build") or {}).get("data", []):
                add(d)
        return used

    def backbones_used(self) -> list[str]:
        out: list[str] = []
        for b in [r.backbone for r in self.runs.values()] + [m.backbone for m in self.models.values()]:
            if b not in out:
                out.append(b)
        return out

    def built_backbones(self) -> list[str]:
        return [b for b in self.backbones_used() if self.config["backbones"][b].get("build")]

    def reward_models_used(self) -> list[str]:
        out = [r.reward_model for r in self.runs.values() if r.reward_model]
        for kind in ("alpaca_eval", "arena_hard"):
            judge = self.config.get("evaluation", {}).get(kind, {}).get("judge")
            if judge and str(judge).startswith("reward-model:"):
                out.append(str(judge).split(":", 1)[1])
        return list(dict.fromkeys(out))

    def built_reward_models(self) -> list[str]:
        return [r for r in self.reward_models_used() if self.config["reward_models"][r].get("build")]

    def figure_runs(self, figure: str) -> list[str]:
        return [r.run_id for r in self.runs.values() if figure in r.figures]

    def figures(self) -> list[str]:
        return list(self.config["report"]["figures"])

    def tables(self) -> list[str]:
        return list(self.config["report"]["tables"])

    def table_evals(self, table: str) -> list[tuple[str, str]]:
        """(model_id, eval_name) that a table reads: its models' evals of the kinds the table lists."""
        kinds = self.config["report"]["tables"][table] or []
        return [(m.model_id, e) for m in self.models.values() if table in m.tables for e in m.evals if e in kinds]


def _jobs(groups, size: int, name) -> dict:
    """Each group's items cut into jobs of `size` in order: job id -> items. A job's id is `name` of its first
    item, followed by `+<n>` when it holds n more."""
    chunks = [items[i:i + size] for items in groups for i in range(0, len(items), size)]
    return {name(c[0]) + (f"+{len(c) - 1}" if len(c) > 1 else ""): c for c in chunks}


def eval_kind_configured(config: dict, kind: str) -> bool:
    """Whether the config can run an eval kind: rlvr always; the others only with their `evaluation.<kind>`
    section (a machine without a judge or the benchmarks leaves the section out and runs the rest)."""
    return kind == "rlvr" or kind in (config.get("evaluation") or {})


def skipped_evals(config: dict) -> dict[str, list[str]]:
    """Eval kinds that experiments ask for but the config has no `evaluation` section for: kind -> experiments."""
    out: dict[str, list[str]] = {}
    for ename, exp in config["experiments"].items():
        for kind in exp.get("evaluate", []):
            if not eval_kind_configured(config, kind):
                out.setdefault(kind, []).append(ename)
    return out
