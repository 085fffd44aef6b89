"""Evaluations of trained and untrained models: RLVR pass@1, lm-eval (Table 2), AlpacaEval 2 and Arena-Hard (Table 3).

One job per evaluation, by the rule of its kind (the default, and the only way on GPU configs); or, with
`evals_per_job: n` on a CPU config, one `gift eval many` process per n evaluations (rule eval_job). Either way
an evaluation runs with the same arguments (gift.grid.evals.eval_argv) and writes the same files.
"""


# Local twins of the seven Table 2 tasks (synthetic data in each benchmark's schema) for smoke and tiny.
rule lm_eval_twins:
    output:
        directory(f"{RESULTS}/lm_eval_twins"),
    log:
        f"{LOGS}/evals/lm_eval_twins.log",
    benchmark:
        f"{BENCH}/evals/lm_eval_twins.tsv"
    params:
        n=lambda wildcards: max(config["evaluation"]["lm_eval"].get("limit") or 20, 20),
    conda:
        CONDA_ENV
    shell:
        '"$GIFT_PYTHON" -m gift.cli eval lm-eval --materialise-twins {output} --seed 0 --n {params.n} > {log} 2>&1'


if GRID.grouped_evals:

    # The job files (results/<cfg>/eval_jobs/<job>.json) are written before the first job starts (onstart).
    # The output is a flag touched once every evaluation of the job has written its result: a killed job
    # leaves the results it wrote in place, and the rerun skips them (gift eval many).
    rule eval_job:
        input:
            eval_job_inputs,
        output:
            GRID.eval_done("{eval_job}"),
        log:
            f"{LOGS}/eval_jobs/{{eval_job}}.log",
        benchmark:
            f"{BENCH}/eval_jobs/{{eval_job}}.tsv"
        params:
            job=lambda wildcards: GRID.eval_job_file(wildcards.eval_job),
            # The evaluations' arguments are a param, so that a changed eval setting reruns the job (and only
            # the evaluations whose arguments changed run again).
            evals=lambda wildcards: [grid_evals.eval_argv(GRID, m, e) for m, e in GRID.eval_jobs[wildcards.eval_job]],
            sandbox=SANDBOX_ON_MISSING,
        resources:
            cpus_per_task=eval_job_resource("cpus_per_task"),
            mem_mb=eval_job_resource("mem_mb"),
            runtime=eval_job_resource("runtime"),
            nodes=1,
            gpu=0,
        conda:
            CONDA_ENV
        threads: 1
        shell:
            'OMP_NUM_THREADS={threads} GIFT_SANDBOX_ON_MISSING={params.sandbox} "$GIFT_PYTHON" -m gift.cli eval many '
            "--job {params.job} > {log} 2>&1 && touch {output}"

else:

    rule eval_rlvr:
        input:
            model=eval_model_inputs,
            data=lambda wildcards: data_dir(wildcards.dataset),
        output:
            GRID.eval_path("{model_id}", gift_grid.rlvr_eval_name("{dataset}")),
        log:
            f"{LOGS}/evals/{{model_id}}/{gift_grid.rlvr_eval_name('{dataset}')}.log",
        benchmark:
            f"{BENCH}/evals/{{model_id}}/{gift_grid.rlvr_eval_name('{dataset}')}.tsv"
        params:
            argv=lambda wildcards: eval_argv(wildcards.model_id, gift_grid.rlvr_eval_name(wildcards.dataset)),
        resources:
            cpus_per_task=eval_resource("cpus_per_task"),
            mem_mb=eval_resource("mem_mb"),
            runtime=eval_resource("runtime"),
            nodes=1,
            gpu=eval_gpus,
        conda:
            CONDA_ENV
        threads: 1
        shell:
            f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval {params.argv} > {log} 2>&1'

    rule eval_lm_eval:
        input:
            lm_eval_inputs,
        output:
            GRID.eval_path("{model_id}", "lm_eval"),
        log:
            f"{LOGS}/evals/{{model_id}}/lm_eval.log",
        benchmark:
            f"{BENCH}/evals/{{model_id}}/lm_eval.tsv"
        params:
            argv=lambda wildcards: eval_argv(wildcards.model_id, "lm_eval"),
            sandbox=SANDBOX_ON_MISSING,
        resources:
            cpus_per_task=eval_resource("cpus_per_task"),
            mem_mb=eval_resource("mem_mb"),
            runtime=eval_resource("runtime"),
            nodes=1,
            gpu=eval_gpus,
        conda:
            CONDA_ENV
        threads: 1
        shell:
            f'OMP_NUM_THREADS={{threads}} GIFT_SANDBOX_ON_MISSING={{params.sandbox}} {GPUS_RUN}'
            '"$GIFT_PYTHON" -m gift.cli eval {params.argv} > {log} 2>&1'

    rule eval_alpaca:
        input:
            model=eval_model_inputs,
            judge=judge_inputs("alpaca_eval"),
        output:
            GRID.eval_path("{model_id}", "alpaca_eval"),
        log:
            f"{LOGS}/evals/{{model_id}}/alpaca_eval.log",
        benchmark:
            f"{BENCH}/evals/{{model_id}}/alpaca_eval.tsv"
        params:
            argv=lambda wildcards: eval_argv(wildcards.model_id, "alpaca_eval"),
        resources:
            cpus_per_task=eval_resource("cpus_per_task"),
            mem_mb=eval_resource("mem_mb"),
            runtime=eval_resource("runtime"),
            nodes=1,
            gpu=eval_gpus,
        conda:
            CONDA_ENV
        threads: 1
        shell:
            f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval {params.argv} > {log} 2>&1'

    rule eval_arena_hard:
        input:
            model=eval_model_inputs,
            judge=judge_inputs("arena_hard"),
        output:
            GRID.eval_path("{model_id}", "arena_hard"),
        log:
            f"{LOGS}/evals/{{model_id}}/arena_hard.log",
        benchmark:
            f"{BENCH}/evals/{{model_id}}/arena_hard.tsv"
        params:
            argv=lambda wildcards: eval_argv(wildcards.model_id, "arena_hard"),
        resources:
            cpus_per_task=eval_resource("cpus_per_task"),
            mem_mb=eval_resource("mem_mb"),
            runtime=eval_resource("runtime"),
            nodes=1,
            gpu=eval_gpus,
        conda:
            CONDA_ENV
        threads: 1
        shell:
            f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval {params.argv} > {log} 2>&1'
