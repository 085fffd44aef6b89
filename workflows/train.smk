"""Training over backbone x dataset x method x variant x seed: one RUN.yaml and one `gift train` per run."""


# The run configs (results/<cfg>/run_configs/<run_id>.yaml) are written before the first job starts.
onstart:
    write_run_configs()


# The output is the DONE flag `gift train` writes last: a killed run leaves its checkpoints in place
# (no directory output for Snakemake to wipe), and the rerun resumes from the last one.
rule train:
    input:
        unpack(train_inputs),
    output:
        run_done("{run_id}"),
    log:
        f"{LOGS}/train/{{run_id}}.log",
    benchmark:
        f"{BENCH}/train/{{run_id}}.tsv"
    params:
        launcher=train_launcher,
        cfg=lambda wildcards: run_config_path(wildcards.run_id),
        # The resolved run config is a param, so that changing a hyperparameter in the config reruns the run.
        run=lambda wildcards: gift_grid.run_config(GRID, wildcards.run_id),
    resources:
        # per model size (cluster.resources of the config); one node: `accelerate launch` of its GPUs
        cpus_per_task=train_resource("cpus_per_task"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
        nodes=1,
        gpu=train_gpus,
    retries: TRAIN_REQUEUES
    conda:
        CONDA_ENV
    threads: 1
    shell:
        # --restart: when Snakemake reruns a job because its run config changed, the old run directory is
        # set aside (results/<config>/runs/.replaced/) instead of being resumed with the new settings.
        # The log is appended to: a run resubmitted after its job's time limit keeps every attempt's log.
        f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" {params.launcher}-m gift.cli train --config {params.cfg} --restart >> {log} 2>&1'
