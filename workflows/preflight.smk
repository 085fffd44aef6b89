"""Before any compute job: the download step (configs with hub items) and, on GPU configs, the preflight."""

from gift import doctor as gift_doctor  # noqa: E402
from gift.hub import mirror as gift_mirror


# The rehearsal's local hub: small models of the paper's architectures and the datasets' twins, in a cache.
rule build_mirror:
    output:
        f"{MIRROR_HOME}/mirror.txt" if MIRROR_HOME else "no-mirror",
    log:
        f"{LOGS}/mirror.log",
    benchmark:
        f"{BENCH}/mirror.tsv"
    localrule: True
    run:
        gift_mirror.rule_build_mirror(config, MIRROR_HOME, output[0], log[0])


# On the submitting host, which reaches the hub; writes the report only when every item was fetched.
rule fetch:
    input:
        [f"{MIRROR_HOME}/mirror.txt"] if MIRROR_HOME else [],
    output:
        f"{RESULTS}/fetch.json",
    log:
        f"{LOGS}/fetch.log",
    benchmark:
        f"{BENCH}/fetch.tsv"
    params:
        # the items are a param: a config that needs something new fetches again
        needed=lambda wildcards: [f"{n.kind}:{n.source}@{n.revision or ''}" for n in NEEDS],
    localrule: True
    run:
        gift_fetch.rule_fetch(config, output[0], log[0], f"{RESULTS}/fetch")


# On a training node (the largest training job's resources): GPUs, packages, keys, hub cache, disk, sandbox.
rule doctor:
    input:
        [f"{RESULTS}/fetch.json"] if NEEDS else [],
    output:
        f"{RESULTS}/doctor.txt",
    log:
        f"{LOGS}/doctor.log",
    benchmark:
        f"{BENCH}/doctor.tsv"
    resources:
        gpu=lambda wildcards: max([gift_grid.job_resources(GRID, r.backbone, "train")["gpu"] for r in GRID.runs.values()] or [0]),
        nodes=1,
    run:
        gift_doctor.rule_doctor(config, output[0], log[0])


# Where the judge evaluations run: an API judge's key and model. Only that judge's evaluations wait for it, so a
# missing key fails them alone (the profiles keep going with the other jobs) and no training run waits for it.
rule judge:
    output:
        f"{RESULTS}/judge-{{kind}}.txt",
    log:
        f"{LOGS}/judge-{{kind}}.log",
    benchmark:
        f"{BENCH}/judge-{{kind}}.tsv"
    wildcard_constraints:
        kind="alpaca_eval|arena_hard",
    localrule: True
    run:
        gift_doctor.rule_judge(config, wildcards.kind, output[0], log[0])
