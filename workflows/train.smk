"""Training over backbone x dataset x method x variant x seed: one RUN.yaml per run, one `gift train` per job.

A job trains one run, or `runs_per_job` runs in turn in one process (Grid.train_jobs).
"""


# The run configs (results/<cfg>/run_configs/<run_id>.yaml) are written before the first job starts (onstart).


# The output is a flag touched once `gift train` has written every run's DONE: a killed job leaves its runs'
# checkpoints in place (no directory output for Snakemake to wipe); the rerun skips the runs that are
# complete and resumes the others from their last checkpoint.
rule train:
    input:
        unpack(train_inputs),
    output:
        GRID.train_done("{job_id}"),
    log:
        f"{LOGS}/train/{{job_id}}.log",
    benchmark:
        f"{BENCH}/train/{{job_id}}.tsv"
    params:
        launcher=train_launcher,
        omp_threads=train_omp_threads,
        configs=train_configs,
        # The resolved run configs are a param, so that changing a hyperparameter in the config reruns the job
        # (and, through --restart, restarts only the runs whose settings changed).
        runs=lambda wildcards: [gift_grid.run_config(GRID, r) for r in GRID.train_jobs[wildcards.job_id]],
    resources:
        # per model size (cluster.resources of the config); one node: `accelerate launch` of its GPUs
        **job_resources(train_resource, train_gpus),
    retries: TRAIN_REQUEUES
    conda:
        CONDA_ENV
    threads: 1
    shell:
        # --restart: when Snakemake reruns a job because its run config changed, the old run directory is
        # set aside (results/<config>/runs/.replaced/) instead of being resumed with the new settings.
        # The log is appended to: a run resubmitted after its job's time limit keeps every attempt's log.
        step("{params.launcher}-m gift.cli train {params.configs} --restart", env="OMP_NUM_THREADS={params.omp_threads} ",
             gpus=True, append=True, then="touch {output}")
