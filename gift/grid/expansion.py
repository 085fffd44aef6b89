"""Expansion: a checked config's backbones x datasets x methods x variants x seeds as runs, models and evals.

A run that two experiments ask for with the same resolved settings (Fig 2's N=16 kl_sum GIFT run and Fig 3's
GSM8K GIFT run) is one run with two figure memberships. Also `gift grid` and `gift config check`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

from gift.cli import HelpFormatter
from gift.grid.config import ConfigError, check_references, load_checked, load_config, sweep_values, validate
from gift.grid.job_files import run_config_of
from gift.grid.resolved import resolved_runs
from gift.grid.resources import check_gpus
from gift.grid.runs import (
    TRAINING_KEYS,
    Grid,
    Membership,
    Model,
    Run,
    eval_kind_configured,
    method_defaults,
    rlvr_eval_name,
)
from gift.methods import display_name


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
    # filled in place below: a run's config is checked against the grid before the run joins it
    grid = Grid(name=config["name"], config=config, runs=runs, models=models)
    for ename, exp in config["experiments"].items():
        for backbone in exp["backbones"]:
            for data in exp["data"]:
                for method in exp["methods"]:
                    for run, membership, where_of in _cell_runs(config, ename, exp, backbone, data, method):
                        if run.identity() not in by_identity:
                            _check_run_config(grid, run, where_of)
                        run = _register(runs, by_identity, run, ename)
                        run.memberships.append(membership)
                        _add_models(config, exp, ename, run, models)
        if exp.get("evaluate_base"):
            _add_base_models(config, exp, models)
    check_gpus(config, grid.backbones_used())
    _check_runs_per_job(config, grid)
    _check_evals_per_job(config)
    return grid


def _check_run_config(grid: Grid, run: Run, where_of: dict[str, str]) -> None:
    """A run's run config built as `gift train` builds it, which checks it (types, bounds, choices, the method's
    arguments), so that a setting `gift train` would refuse stops the dry run instead of a training job. A bad
    method argument is named by the place in the config that wrote it (`where_of`)."""
    from gift.errors import UserError
    from gift.run.config import RunConfig

    try:
        RunConfig.from_dict(run_config_of(grid, run), source=f"run {run.run_id} (from training, methods and the "
                            "experiment)", method_args_where=where_of)
    except UserError as err:
        raise ConfigError(str(err)) from None


def _check_runs_per_job(config: dict, grid: Grid) -> None:
    """Several runs per process only where a process is one interpreter: not under `accelerate launch`, and not
    on a GPU config, where each run starts its own colocated vLLM engine that the process does not free."""
    if int(config.get("runs_per_job", 1)) == 1:
        return
    if config.get("device") == "gpu":
        raise ConfigError(f"runs_per_job: {config['runs_per_job']} on a gpu config: each run would start its own "
                          "colocated vLLM engine in the one process; set runs_per_job: 1")
    for backbone in grid.backbones_used():
        if config["backbones"][backbone].get("accelerate"):
            raise ConfigError(f"runs_per_job: {config['runs_per_job']}, but backbones.{backbone} is trained under "
                              "accelerate launch (one launch per run); set runs_per_job: 1")


def _check_evals_per_job(config: dict) -> None:
    """Several evaluations per process only on a CPU config: a GPU evaluation's vLLM engine is not reliably
    freed within its process, and each GPU job holds its own devices."""
    if int(config.get("evals_per_job", 1)) > 1 and config["device"] == "gpu":
        raise ConfigError(f"evals_per_job: {config['evals_per_job']} on a gpu config; several evaluations per "
                          "process are for CPU configs: set evals_per_job: 1")


def _cell_runs(config: dict, ename: str, exp: dict, backbone: str, data: dict,
               method: str) -> Iterator[tuple[Run, Membership, dict[str, str]]]:
    """Every run one (backbone, dataset, method) cell of an experiment asks for, with the membership that asks
    (one per variant, sweep point and seed) and where each of its method arguments was written."""
    dataset, eval_dataset = data["train"], data.get("eval")
    dspec = config["datasets"][dataset]
    sweep = exp.get("sweep")
    base_args, base_where = _base_method_args(config, ename, exp, backbone, dataset, method)
    training = {k: v for k, v in _merge(config["training"], exp.get("training")).items() if k in TRAINING_KEYS}
    for variant in _variants_for(exp, method):
        vargs = variant.get("args", {})
        resolved = {**method_defaults(method), **base_args}
        # a variant may change the batch structure too (e.g. one optimizer update per rollout batch)
        vtraining = variant.get("training") or {}
        changed = (any(resolved.get(k, object()) != v for k, v in vargs.items())
                   or any(training.get(k) != v for k, v in vtraining.items()))
        run_training = {**training, **vtraining}
        name = f"{backbone}-{dataset}-{method}" + (f"-{variant['name']}" if changed else "")
        for point, pargs, tag in _sweep_points(ename, exp, method, variant, resolved):
            method_args = _merge(base_args, pargs)
            where_of = {**base_where, **dict.fromkeys(vargs, f"experiments.{ename}.variants[{variant['name']}].args"),
                        **({sweep["arg"]: f"experiments.{ename}.sweep.values"} if sweep else {})}
            for seed in exp.get("seeds", config["seeds"]):
                run_id = name + (f"-{tag}" if tag else "") + f"-s{seed}"
                reward_model = exp.get("reward_model") if dspec.get("reward") == "reward_model" else None
                run = Run(run_id=run_id, backbone=backbone, dataset=dataset, eval_dataset=eval_dataset,
                          method=method, seed=seed, method_args=method_args, training=run_training,
                          reward=dspec["reward"], reward_model=reward_model,
                          selection_dataset=dataset if sweep else None, sweep=point)
                vname = variant["name"] + (f"-{tag}" if tag else "")
                panel = _panel(exp.get("panel_by", "none"), backbone, dataset, method, vname)
                yield run, Membership(ename, tuple(exp.get("figures", [])), panel, vname, dict(pargs)), where_of


def _base_method_args(config: dict, ename: str, exp: dict, backbone: str, dataset: str,
                      method: str) -> tuple[dict, dict[str, str]]:
    """A cell's method arguments before its variant's, merged in resolution order (see `expand`), and where each
    was written (the run config checks them; an error names that place)."""
    bspec = config["backbones"][backbone]
    sources = [("training.method_args", config["training"].get("method_args")),
               (f"methods.{method}.args", config["methods"][method].get("args")),
               (f"backbones.{backbone}.method_args", bspec.get("method_args")),
               (f"experiments.{ename}.method_args", exp.get("method_args"))]
    sources += [(f"experiments.{ename}.overrides[{i}].method_args", ov["method_args"])
                for i, ov in enumerate(exp.get("overrides", [])) if _matches(ov["when"], backbone, dataset, method)]
    args: dict = {}
    where_of: dict[str, str] = {}
    for where, part in sources:
        args.update(copy.deepcopy(part or {}))
        where_of.update(dict.fromkeys(part or {}, where))
    return args, where_of


def _sweep_points(ename: str, exp: dict, method: str, variant: dict,
                  resolved: dict) -> list[tuple[dict | None, dict, str | None]]:
    """(sweep point, the variant's args at that point, run-id tag) per swept value; one untagged point without a
    sweep."""
    vargs = variant.get("args", {})
    sweep = exp.get("sweep")
    if not sweep:
        return [(None, vargs, None)]
    # the variant names the arm even where it restates a default (GIFT's pi_ref reference)
    arm = method + (f"-{variant['name']}" if variant["name"] != "default" else "")
    default = {**resolved, **vargs}.get(sweep["arg"])
    return [({"experiment": ename, "arg": sweep["arg"], "value": v, "default": default,
              "arm": arm, "select": {**DEFAULT_SELECT, **(sweep.get("select") or {})}},
             {**vargs, sweep["arg"]: v}, sweep_tag(sweep["arg"], v))
            for v in sweep_values(exp, method)]


def _register(runs: dict[str, Run], by_identity: dict[str, str], run: Run, ename: str) -> Run:
    """The grid's run with `run`'s settings: one already asked for, else `run`, added. A run id asked for with
    other settings is a ConfigError."""
    ident = run.identity()
    if ident in by_identity:
        return runs[by_identity[ident]]
    if run.run_id in runs:
        raise ConfigError(
            f"experiments.{ename}: run {run.run_id!r} is asked for with settings that differ "
            f"from those of experiment {runs[run.run_id].memberships[0].experiment!r}; give "
            f"the variant a distinct name or align the settings")
    runs[run.run_id] = run
    by_identity[ident] = run.run_id
    return run


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


def cli(argv: list[str]) -> int:
    """`gift grid`: list a config's runs, or with --json print each one's fully resolved run config."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift grid", description=cli.__doc__)
    parser.add_argument("--config", required=True, help="a workflow config (config/*.yaml)")
    parser.add_argument("--json", action="store_true", help="print every run's resolved run config as JSON")
    parser.add_argument("--world-size", type=int, default=None,
                        help="training processes the batch sizes are derived for (default: the config's "
                             "estimate.num_processes, else 1)")
    ns = parser.parse_args(argv)
    try:
        config = load_checked(ns.config)
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
    refused = [r for r in runs if (r.get("vllm") or {}).get("problem")]
    if refused:
        print(f"gift grid: error: {ns.config}: {len(refused)} run(s) would not start their vLLM engine on {world} "
              f"process(es), e.g. {refused[0]['run_id']}: {refused[0]['vllm']['problem']}", file=sys.stderr)
        return 2
    return 1 if bad else 0


def cli_check(argv: list[str]) -> int:
    """`gift config check --config CONFIG`: the checks the workflow makes when it builds its DAG, without
    Snakemake."""
    import argparse

    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift config check", description=cli_check.__doc__)
    parser.add_argument("--config", dest="config_opt", metavar="CONFIG",
                        help="a workflow config YAML (e.g. config/tiny.yaml)")
    parser.add_argument("config", nargs="?", help="the same, as a positional argument (kept for older scripts)")
    ns = parser.parse_args(argv)
    if (ns.config is None) == (ns.config_opt is None):
        parser.error("name one workflow config: --config CONFIG")
    ns.config = ns.config or ns.config_opt
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
