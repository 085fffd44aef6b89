"""Evaluations of trained and untrained models: RLVR pass@1, lm-eval (Table 2), AlpacaEval 2 and Arena-Hard (Table 3).

One job per evaluation (rule eval: the default, and the only way on GPU configs), which runs the step script of
the eval's kind (evals/<kind>.py); or, with `evals_per_job: n` on a CPU config, one evals/eval_job.py process per
n evaluations (rule eval_job). Either way an evaluation runs with the same arguments (gift.grid.evals.eval_argv)
and writes the same files.
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
        step("evals/lm_eval.py --materialise-twins {output} --seed 0 --n {params.n}")


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
            **job_resources(eval_job_resource, 0),
        conda:
            CONDA_ENV
        threads: 1
        shell:
            step("evals/eval_job.py --job {params.job}", env="OMP_NUM_THREADS={threads} "
                 "GIFT_SANDBOX_ON_MISSING={params.sandbox} ", then="touch {output}")

else:

    # One evaluation of one model; its inputs by the eval's kind (eval_needs).
    rule eval:
        input:
            eval_inputs,
        output:
            GRID.eval_path("{model_id}", "{eval}"),
        log:
            f"{LOGS}/evals/{{model_id}}/{{eval}}.log",
        benchmark:
            f"{BENCH}/evals/{{model_id}}/{{eval}}.tsv"
        params:
            script=lambda wildcards: eval_script(wildcards.eval),
            argv=lambda wildcards: eval_argv(wildcards.model_id, wildcards.eval),
            env=lambda wildcards: eval_env(wildcards.eval),
        resources:
            **job_resources(eval_resource, eval_gpus),
        conda:
            CONDA_ENV
        threads: 1
        shell:
            step("{params.script} {params.argv}", env="OMP_NUM_THREADS={threads} {params.env}", gpus=True)
