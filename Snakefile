"""GIFT reproduction suite: data -> tiny or hub models -> training grid -> evaluations -> figures, tables, report.

    snakemake --cores all                                  # config/smoke.yaml: every rule, on a CPU
    snakemake --cores all --configfile config/tiny.yaml    # the paper's claims at tiny scale (times: docs/timings.md)
    snakemake --workflow-profile profiles/slurm --configfile config/paper.yaml   # the paper, on a GPU cluster
    snakemake --report report.html [--configfile ...]      # HTML report with the figures and tables
"""

import sys

from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces the default config instead of being merged into it (a paper run must not
# inherit smoke datasets or experiments).
if not workflow.overwrite_configfiles:

    configfile: "config/smoke.yaml"


# The rules import the library from this checkout when it holds one, else the installed package.
sys.path.insert(0, workflow.basedir)

from gift import grid as gift_grid

# `--config key=VALUE` values arrive untyped inside lists and maps (`seeds=[0]` gives ['0']): read them as YAML.
gift_grid.apply_typed_overrides(config, dict(workflow.config_settings.config or {}))

# The checks below stop `snakemake -n` too, with one line each and exit status 1 (no traceback).
# The schema ships inside the package (gift/assets/schemas/), so an installed gift validates with its own copy;
# gift.grid's check names each bad key path in one line (no schema dump).
try:
    gift_grid.validate(config)
except gift_grid.ConfigError as err:
    print(f"invalid config: {err}", file=sys.stderr)
    sys.exit(1)

# A profile still holding a placeholder (profiles/slurm: <PARTITION>, <ACCOUNT>) would submit jobs that Slurm
# rejects one by one: stop before the first.
_UNFILLED = gift_grid.unfilled_placeholders(getattr(workflow.resource_settings.default_resources, "args", None))
if _UNFILLED:
    print(f"invalid profile: default-resources {', '.join(_UNFILLED)} is a placeholder: fill it in the profile "
          "(profiles/slurm/config.yaml: your partition and account; delete slurm_account where the cluster has "
          "none) or pass --default-resources slurm_partition=NAME", file=sys.stderr)
    sys.exit(1)

# every run, model, evaluation and job of the config
try:
    GRID = gift_grid.expand(config)
except gift_grid.ConfigError as err:
    print(f"invalid config: {err}", file=sys.stderr)
    sys.exit(1)

# An evaluation whose `evaluation.<kind>` section the config leaves out is not run (said once, here).
for _kind, _experiments in GRID.skipped_evals().items():
    print(f"note: the config has no evaluation.{_kind} section: {_kind} is skipped "
          f"(asked for by {', '.join(_experiments)})", file=sys.stderr)


include: "workflows/common.smk"


report: "workflows/report/workflow.rst"


wildcard_constraints:
    dataset=_alternatives(GRID.datasets_used()),
    model=_alternatives(GRID.built_backbones() + GRID.built_reward_models()),
    job_id=_alternatives(GRID.train_jobs),
    eval_job=_alternatives(GRID.eval_jobs if GRID.grouped_evals else []),
    model_id=_alternatives(GRID.models),
    eval=_alternatives([] if GRID.grouped_evals else [e for _, e in GRID.eval_targets()]),
    figure=_alternatives(GRID.figures()),
    table=_alternatives(GRID.tables()),


# Once, before the first job (not in a dry run): the hub mirror's cache, the sandbox's check, and the files the
# jobs read (run configs, grouped eval jobs).
onstart:
    start()


include: "workflows/preflight.smk"
include: "workflows/data.smk"
include: "workflows/models.smk"
include: "workflows/train.smk"
include: "workflows/eval.smk"
include: "workflows/report.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
