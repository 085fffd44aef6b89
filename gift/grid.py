"""The experiment grid: a config's backbones x datasets x methods x variants x seeds as runs, models and evals.

One source for the Snakefile, the tests, `gift estimate` and the report scripts. A run that two
experiments ask for with the same resolved settings (Fig 2's N=16 kl_sum GIFT run and Fig 3's GSM8K
GIFT run) is one run with two figure memberships.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gift.grid_config import (  # noqa: F401 (SCHEMA_PATH, load_config, validate: read through gift.grid too)
    SCHEMA_PATH,
    ConfigError,
    check_references,
    load_config,
    sweep_values,
    validate,
)
from gift.io import write_json, write_text
from gift.methods import display_name, get_method

# Eval kinds an experiment may ask for, and the file each writes under results/<cfg>/evals/<model_id>/.
EVAL_KINDS = ("rlvr", "lm_eval", "alpaca_eval", "arena_hard")
RLVR_PREFIX = "rlvr_"


def rlvr_eval_name(dataset: str) -> str:
    """The eval name (and file stem) of pass@1 on `dataset`: rlvr_<dataset>."""
    return f"{RLVR_PREFIX}{dataset}"

# Keys of the trainer's run config that come from the `training` sections (the rest is derived).
TRAINING_KEYS = ("max_steps", "num_train_epochs", "eval_every", "eval_limit", "save_every", "save_total_limit",
                 "max_prompt_length", "train_limit", "eval_k", "eval_temperature", "eval_max_new_tokens",
                 "rollout_batch_prompts", "optimizer_batch_prompts", "micro_batch_prompts")


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

    def eval_path(self, model_id: str, eval_name: str) -> str:
        return f"{self.results}/evals/{model_id}/{eval_name}.json"

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
                    add(e[len(RLVR_PREFIX):])
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


def _merge(*dicts: dict | None) -> dict:
    out: dict = {}
    for d in dicts:
        out.update(copy.deepcopy(d or {}))
    return out


def _matches(when: dict, backbone: str, dataset: str, method: str) -> bool:
    have = {"backbone": backbone, "dataset": dataset, "method": method}
    for key, want in when.items():
        wanted = want if isinstance(want, list) else [want]
        if have[key] not in wanted:
            return False
    return True


# How a swept argument is written in run ids ("lr3e-05").
SWEEP_SHORT = {"learning_rate": "lr", "gift_beta": "beta", "num_generations": "n", "beta": "kl"}
# The selection rule a sweep applies when its config does not state one.
DEFAULT_SELECT = {"metric": "selection_pass@1", "last": 1.0 / 3.0, "by": "mean"}


def sweep_tag(arg: str, value: object) -> str:
    """The run-id part of a sweep point: 'lr3e-05', 'beta0.5'."""
    v = f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    return f"{SWEEP_SHORT.get(arg, arg)}{v}"


def _variants_for(exp: dict, method: str) -> list[dict]:
    """The experiment's variants that apply to `method` (a variant may name the methods it is for)."""
    variants = [v for v in (exp.get("variants") or []) if method in v.get("methods", [method])]
    return variants or [{"name": "default", "args": {}}]


def _check_args(method: str, args: dict | None, where: str) -> None:
    """Method arguments from one place in the config: each key a field of the method's config, each value valid."""
    from gift.methods import check_method_arg_names, check_method_values

    if not args:
        return
    try:
        check_method_arg_names(method, args, where)
        check_method_values(method, args, where)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _panel(panel_by: str, backbone: str, dataset: str, method: str, variant_name: str) -> str | None:
    return {"none": None, "backbone": backbone, "dataset": dataset, "method": method,
            "variant": variant_name}[panel_by]


def expand(config: dict) -> Grid:
    """Expand a (schema-valid) config into its runs and evaluated models.

    Resolution order of a run's trainer overrides, later wins: `training.method_args`,
    `methods.<m>.args`, `backbones.<b>.method_args`, the experiment's `method_args`, its matching
    `overrides`, the variant's `args`. A variant whose args change nothing leaves no mark on the
    run id, so that the same settings asked for twice are one run.
    """
    check_references(config)
    runs: dict[str, Run] = {}
    by_identity: dict[str, str] = {}
    models: dict[str, Model] = {}
    top_seeds = config["seeds"]
    for ename, exp in config["experiments"].items():
        seeds = exp.get("seeds", top_seeds)
        figures = tuple(exp.get("figures", []))
        sweep = exp.get("sweep")
        for backbone in exp["backbones"]:
            bspec = config["backbones"][backbone]
            for data in exp["data"]:
                dataset, eval_dataset = data["train"], data.get("eval")
                dspec = config["datasets"][dataset]
                for method in exp["methods"]:
                    # each source of method arguments is checked where it is written, so an error names its key path
                    _check_args(method, config["training"].get("method_args"), "training.method_args")
                    _check_args(method, config["methods"][method].get("args"), f"methods.{method}.args")
                    _check_args(method, bspec.get("method_args"), f"backbones.{backbone}.method_args")
                    _check_args(method, exp.get("method_args"), f"experiments.{ename}.method_args")
                    base_args = _merge(config["training"].get("method_args"), config["methods"][method].get("args"),
                                       bspec.get("method_args"), exp.get("method_args"))
                    for i, ov in enumerate(exp.get("overrides", [])):
                        if _matches(ov["when"], backbone, dataset, method):
                            _check_args(method, ov["method_args"], f"experiments.{ename}.overrides[{i}].method_args")
                            base_args.update(copy.deepcopy(ov["method_args"]))
                    training = {k: v for k, v in _merge(config["training"], exp.get("training")).items()
                                if k in TRAINING_KEYS}
                    for variant in _variants_for(exp, method):
                        vargs = variant.get("args", {})
                        _check_args(method, vargs, f"experiments.{ename}.variants[{variant['name']}].args")
                        resolved = {**method_defaults(method), **base_args}
                        changed = any(resolved.get(k, object()) != v for k, v in vargs.items())
                        name = f"{backbone}-{dataset}-{method}" + (f"-{variant['name']}" if changed else "")
                        points = [(None, vargs, None)]
                        if sweep:
                            # the variant names the arm even where it restates a default (GIFT's pi_ref reference)
                            arm = method + (f"-{variant['name']}" if variant["name"] != "default" else "")
                            default = {**resolved, **vargs}.get(sweep["arg"])
                            points = [({"experiment": ename, "arg": sweep["arg"], "value": v, "default": default,
                                        "arm": arm, "select": {**DEFAULT_SELECT, **(sweep.get("select") or {})}},
                                       {**vargs, sweep["arg"]: v}, sweep_tag(sweep["arg"], v))
                                      for v in sweep_values(exp, method)]
                        for point, pargs, tag in points:
                            method_args = _merge(base_args, pargs)
                            for seed in seeds:
                                run_id = name + (f"-{tag}" if tag else "") + f"-s{seed}"
                                reward_model = exp.get("reward_model") if dspec.get("reward") == "reward_model" else None
                                run = Run(run_id=run_id, backbone=backbone, dataset=dataset, eval_dataset=eval_dataset,
                                          method=method, seed=seed, method_args=method_args, training=training,
                                          reward=dspec["reward"], reward_model=reward_model,
                                          selection_dataset=dataset if sweep else None, sweep=point)
                                ident = run.identity()
                                if ident in by_identity:
                                    run = runs[by_identity[ident]]
                                elif run_id in runs:
                                    raise ConfigError(
                                        f"experiments.{ename}: run {run_id!r} is asked for with settings that differ "
                                        f"from those of experiment {runs[run_id].memberships[0].experiment!r}; give "
                                        f"the variant a distinct name or align the settings")
                                else:
                                    runs[run_id] = run
                                    by_identity[ident] = run_id
                                vname = variant["name"] + (f"-{tag}" if tag else "")
                                panel = _panel(exp.get("panel_by", "none"), backbone, dataset, method, vname)
                                run.memberships.append(Membership(ename, figures, panel, vname, dict(pargs)))
                                _add_models(config, exp, ename, run, models)
        if exp.get("evaluate_base"):
            _add_base_models(config, exp, models)
    grid = Grid(name=config["name"], config=config, runs=runs, models=models)
    _check_gpus(config, grid.backbones_used())
    return grid


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


def _eval_names(config: dict, exp: dict, eval_dataset: str | None) -> list[str]:
    out = []
    for kind in exp.get("evaluate", []):
        if eval_kind_configured(config, kind):
            out.append(rlvr_eval_name(eval_dataset) if kind == "rlvr" else kind)
    return out


def _model_label(config: dict, backbone: str, method: str | None) -> str:
    bspec = config["backbones"][backbone]
    short = bspec.get("short", backbone)
    if method is None:
        return f"{short}-{bspec.get('base_label', 'Base')}"
    return f"{short}-{config['methods'][method].get('label') or display_name(method)}"


def _upsert_model(models: dict[str, Model], model: Model) -> None:
    if model.model_id in models:
        old = models[model.model_id]
        old.evals += [e for e in model.evals if e not in old.evals]
        old.tables += [t for t in model.tables if t not in old.tables]
        old.paper_row = old.paper_row or model.paper_row
    else:
        models[model.model_id] = model


def _add_models(config: dict, exp: dict, ename: str, run: Run, models: dict[str, Model]) -> None:
    evals = _eval_names(config, exp, run.eval_dataset)
    if not evals:
        return
    label = _model_label(config, run.backbone, run.method)
    _upsert_model(models, Model(model_id=run.run_id, backbone=run.backbone, run_id=run.run_id, method=run.method,
                                seed=run.seed, label=label, paper_row=label if exp.get("paper_rows") else None,
                                evals=evals, tables=list(exp.get("tables", []))))


def _add_base_models(config: dict, exp: dict, models: dict[str, Model]) -> None:
    for backbone in exp["backbones"]:
        evals: list[str] = []
        for data in exp["data"]:
            evals += [e for e in _eval_names(config, exp, data.get("eval")) if e not in evals]
        label = _model_label(config, backbone, None)
        _upsert_model(models, Model(model_id=f"{backbone}-base", backbone=backbone, run_id=None, method="base",
                                    seed=None, label=label, paper_row=label if exp.get("paper_rows") else None,
                                    evals=evals, tables=list(exp.get("tables", []))))


def model_source(grid: Grid, backbone: str) -> tuple[str, str | None]:
    """(path or hub id, revision) of a backbone: a directory the workflow builds, a local path or a hub id."""
    spec = grid.config["backbones"][backbone]
    if spec.get("build"):
        return grid.model_dir(backbone), None
    if spec.get("path"):
        return spec["path"], None
    return spec["hub"], spec.get("revision", "main")


def reward_model_source(grid: Grid, name: str) -> tuple[str, str | None]:
    """(path or hub id, revision) of a reward model."""
    spec = grid.config["reward_models"][name]
    if spec.get("build"):
        return grid.model_dir(name), None
    if spec.get("path"):
        return spec["path"], None
    return spec["hub"], spec.get("revision", "main")


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


def _accelerate_processes(path: str, where: str) -> int:
    """num_processes of an accelerate config file (1 when it does not say)."""
    from gift.io import read_yaml

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


def _check_gpus(config: dict, backbones: list[str]) -> None:
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


def run_config(grid: Grid, run_id: str) -> dict:
    """The RUN.yaml `gift train --config` reads for one run."""
    run = grid.runs[run_id]
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
        for key in ("eval_limit", "eval_k", "eval_temperature", "eval_max_new_tokens"):
            out.pop(key, None)
    return out


def write_run_config(grid: Grid, run_id: str, path: str | Path, only_if_changed: bool = False) -> bool:
    """Write one run's RUN.yaml atomically; with `only_if_changed`, leave a file with the same content alone.

    Returns whether the file was written.
    """
    text = yaml.safe_dump(run_config(grid, run_id), sort_keys=False)
    path = Path(path)
    if only_if_changed and path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


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


def _model_fields(grid: Grid, model: Model) -> dict:
    return {"model_id": model.model_id, "model_label": model.label, "paper_row": model.paper_row,
            "model_path": model_path(grid, model.model_id), "tables": model.tables,
            "evals": {e: grid.eval_path(model.model_id, e) for e in model.evals}}


def write_grid_json(grid: Grid, path: str | Path) -> None:
    """Write GRID.json (see docs/interfaces.md) atomically."""
    write_json(path, {"config": grid.name, "results": grid.results, "runs": grid_entries(grid)})


def resolved_runs(grid: Grid, world_size: int) -> list[dict]:
    """Every run with what `gift train` would run on `world_size` processes: the run config, the method's
    config fields after the registry defaults and every override, and the derived batch sizes.

    A run whose global batch sizes cannot be met on `world_size` carries `batch_error` instead of `batch`.
    """
    from gift.batching import BatchError, resolve
    from gift.methods import method_config_kwargs

    out = []
    for run in grid.runs.values():
        cfg = run_config(grid, run.run_id)
        try:
            method_args = method_config_kwargs(run.method, run.method_args)
        except ValueError as err:
            raise ConfigError(f"run {run.run_id}: {err}") from None
        entry: dict = {"run_id": run.run_id, "experiments": list(dict.fromkeys(m.experiment for m in run.memberships)),
                       "figures": run.figures, "method": run.method, "seed": run.seed, "variant": run.variant}
        try:
            method_args, plan = resolve(method_args, cfg.get("rollout_batch_prompts"),
                                        cfg.get("optimizer_batch_prompts"), cfg.get("micro_batch_prompts"),
                                        world_size)
            entry["batch"] = plan
        except BatchError as err:
            entry["batch"] = None
            entry["batch_error"] = str(err)
        entry["method_args"] = method_args
        entry["run_config"] = cfg
        out.append(entry)
    return out


def cli(argv: list[str]) -> int:
    """`gift grid`: list a config's runs, or with --json print each one's fully resolved run config."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="gift grid", description=cli.__doc__)
    parser.add_argument("--config", required=True, help="a workflow config (config/*.yaml)")
    parser.add_argument("--json", action="store_true", help="print every run's resolved run config as JSON")
    parser.add_argument("--world-size", type=int, default=None,
                        help="training processes the batch sizes are derived for (default: the config's "
                             "estimate.num_processes, else 1)")
    ns = parser.parse_args(argv)
    try:
        config = load_config(ns.config)
        validate(config)
        grid = expand(config)
    except (ConfigError, OSError) as err:
        print(f"gift grid: error: {ns.config}: {err}", file=sys.stderr)
        return 2
    world = ns.world_size or int((config.get("estimate") or {}).get("num_processes") or 1)
    if world < 1:
        print(f"gift grid: error: --world-size must be >= 1, got {world}", file=sys.stderr)
        return 2
    runs = resolved_runs(grid, world)
    if ns.json:
        print(json.dumps({"config": grid.name, "world_size": world, "runs": runs}, indent=1, default=str))
    else:
        for r in runs:
            b = r["batch"]
            batch = (f"{b['rollout_batch_prompts']}/{b['optimizer_batch_prompts']} prompts x N={b['num_generations']}: "
                     f"per-device {b['per_device_train_batch_size']}, accumulation {b['gradient_accumulation_steps']}, "
                     f"steps_per_generation {b['steps_per_generation']}") if b else f"cannot run: {r['batch_error']}"
            print(f"{r['run_id']}  [{', '.join(r['experiments'])}]  {batch}")
    bad = [r for r in runs if r["batch"] is None]
    if bad:
        print(f"gift grid: {len(bad)} of {len(runs)} runs cannot start on {world} process(es), e.g. {bad[0]['run_id']}: "
              f"{bad[0]['batch_error']}", file=sys.stderr)
    return 1 if bad else 0


def cli_check(argv: list[str]) -> int:
    """`gift config check CONFIG`: the checks the workflow makes when it builds its DAG, without Snakemake."""
    import argparse

    parser = argparse.ArgumentParser(prog="gift config check", description=cli_check.__doc__)
    parser.add_argument("config", help="a workflow config YAML (e.g. config/tiny.yaml)")
    ns = parser.parse_args(argv)
    config = load_config(ns.config)
    try:
        validate(config)
        grid = expand(config)
    except ConfigError as err:
        raise ConfigError(f"{ns.config}: {err}") from None
    print(f"{ns.config}: valid ({len(grid.runs)} runs, {len(grid.models)} evaluated models)")
    for kind, experiments in grid.skipped_evals().items():
        print(f"{ns.config}: no evaluation.{kind} section: {kind} is skipped (asked for by {', '.join(experiments)})")
    return 0


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
