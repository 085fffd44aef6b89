"""Figures 2-6, Tables 1-3 and REPORT.md from the runs and evaluations; captions for `snakemake --report`."""


rule grid_json:
    output:
        f"{RESULTS}/grid.json",
    log:
        f"{LOGS}/report/grid_json.log",
    benchmark:
        f"{BENCH}/report/grid_json.tsv"
    params:
        # The entries are a param, so that a change to the grid rewrites grid.json and what reads it.
        entries=lambda wildcards: gift_grid.grid_entries(GRID),
    localrule: True
    run:
        gift_grid.write_grid_json(GRID, output[0])
        shell("echo wrote {output} > {log}")


rule figure:
    input:
        runs=figure_inputs,
        grid=f"{RESULTS}/grid.json",
        script="figures/{figure}.py",
    output:
        png=report(
            f"{RESULTS}/figures/{{figure}}.png",
            caption="report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf=f"{RESULTS}/figures/{{figure}}.pdf",
    log:
        f"{LOGS}/report/{{figure}}.log",
    benchmark:
        f"{BENCH}/report/{{figure}}.tsv"
    params:
        name=NAME,
        runs=figure_run_dirs,
        prefix=lambda wildcards: f"{RESULTS}/figures/{wildcards.figure}",
    conda:
        CONDA_ENV
    shell:
        step("{input.script} --config-name {params.name} --runs {params.runs} --grid {input.grid} --out {params.prefix}")


rule table:
    input:
        evals=table_eval_inputs,
        grid=f"{RESULTS}/grid.json",
        script="tables/{table}.py",
    output:
        csv=report(
            f"{RESULTS}/tables/{{table}}.csv",
            caption="report/table.rst",
            category="Tables",
            labels={"table": "{table}", "format": "csv"},
        ),
        md=f"{RESULTS}/tables/{{table}}.md",
        tex=f"{RESULTS}/tables/{{table}}.tex",
    log:
        f"{LOGS}/report/{{table}}.log",
    benchmark:
        f"{BENCH}/report/{{table}}.tsv"
    params:
        name=NAME,
        evals=lambda wildcards: f"--evals {' '.join(table_evals(wildcards))}" if table_evals(wildcards) else "",
        prefix=lambda wildcards: f"{RESULTS}/tables/{wildcards.table}",
    conda:
        CONDA_ENV
    shell:
        step("{input.script} --config-name {params.name} {params.evals} --grid {input.grid} --out {params.prefix}")


rule report_md:
    input:
        runs=runs_done(GRID.runs),
        evals=eval_outputs(GRID.eval_targets()),
        figures=expand(f"{RESULTS}/figures/{{figure}}.png", figure=GRID.figures()),
        grid=f"{RESULTS}/grid.json",
        script="tables/report.py",
    output:
        md=report(f"{RESULTS}/REPORT.md", caption="report/claims.rst", category="Claims"),
        slowest=report(f"{RESULTS}/slowest_jobs.csv", caption="report/benchmarks.rst", category="Performance"),
    log:
        f"{LOGS}/report/REPORT.log",
    benchmark:
        f"{BENCH}/report/REPORT.tsv"
    params:
        name=NAME,
        runs=[GRID.run_dir(r) for r in GRID.runs],
        evals=all_evals(),
        benchmarks=BENCH,
        tables=list(config["report"].get("tables") or []),
    conda:
        CONDA_ENV
    shell:
        step("{input.script} --config-name {params.name} --grid {input.grid} --runs {params.runs} --evals {params.evals} "
             "--figures {input.figures} --tables {params.tables} --benchmarks {params.benchmarks} "
             "--benchmarks-csv {output.slowest} --out {output.md}")
