"""Before any compute job: the download step (configs with hub items) and, on GPU configs, the preflight."""


# The rehearsal's local hub: small models of the paper's architectures and the datasets' twins, in a cache.
rule build_mirror:
    output:
        f"{MIRROR_HOME}/mirror.txt" if MIRROR_HOME else "no-mirror",
    log:
        f"{LOGS}/mirror.log",
    localrule: True
    run:
        from gift.mirror import build_mirror

        lines = build_mirror(config, MIRROR_HOME)
        with open(log[0], "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        with open(output[0], "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


# On the submitting host, which reaches the hub; writes the report only when every item was fetched.
rule fetch:
    input:
        [f"{MIRROR_HOME}/mirror.txt"] if MIRROR_HOME else [],
    output:
        f"{RESULTS}/fetch.json",
    log:
        f"{LOGS}/fetch.log",
    params:
        # the items are a param: a config that needs something new fetches again
        needed=lambda wildcards: [f"{n.kind}:{n.source}@{n.revision or ''}" for n in NEEDS],
    localrule: True
    run:
        outcomes = gift_fetch.fetch(config, work_dir=f"{RESULTS}/fetch")
        report = gift_fetch.format_report(outcomes)
        with open(log[0], "w", encoding="utf-8") as f:
            f.write(report + "\n")
        print(report)
        if not all(o.ok for o in outcomes):
            raise ValueError(f"gift fetch: {sum(not o.ok for o in outcomes)} item(s) missing; see {log[0]}")
        gift_fetch.write_report(outcomes, output[0])


# On a training node (the largest training job's resources): GPUs, packages, keys, hub cache, disk, sandbox.
rule doctor:
    input:
        [f"{RESULTS}/fetch.json"] if NEEDS else [],
    output:
        f"{RESULTS}/doctor.txt",
    log:
        f"{LOGS}/doctor.log",
    resources:
        gpu=lambda wildcards: max([gift_grid.job_resources(GRID, r.backbone, "train")["gpu"] for r in GRID.runs.values()] or [0]),
        nodes=1,
    run:
        from gift import doctor as gift_doctor

        rows = gift_doctor.run_checks(config)
        table = gift_doctor.format_table(rows)
        with open(log[0], "w", encoding="utf-8") as f:
            f.write(table + "\n")
        if not all(r.ok for r in rows):
            raise ValueError(f"gift doctor: {sum(not r.ok for r in rows)} check(s) failed; see {log[0]}")
        with open(output[0], "w", encoding="utf-8") as f:
            f.write(table + "\n")
