"""Evaluations of trained and untrained models: RLVR pass@1, lm-eval (Table 2), AlpacaEval 2 and Arena-Hard (Table 3)."""


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
        model=eval_model_path,
        split=lambda wildcards: gift_grid.split_path(GRID, wildcards.dataset, "eval"),
        options=eval_options("rlvr"),
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
        f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval rlvr --model {params.model} --model-id {wildcards.model_id} '
        "--data {params.split} --out {output} {params.options} > {log} 2>&1"


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
        model=eval_model_path,
        tasks=lambda wildcards: lm_eval_tasks(),
        limit=lambda wildcards: (
            f"--limit {config['evaluation']['lm_eval']['limit']}" if config["evaluation"]["lm_eval"].get("limit") else ""
        ),
        device="cuda" if config["device"] == "gpu" else "cpu",
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
        f'OMP_NUM_THREADS={{threads}} GIFT_SANDBOX_ON_MISSING={{params.sandbox}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval lm-eval '
        "--model {params.model} --model-id {wildcards.model_id} "
        "--tasks {params.tasks} {params.limit} --device {params.device} --out {output} > {log} 2>&1"


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
        model=eval_model_path,
        judge=judge_arg("alpaca_eval") if "alpaca_eval" in config["evaluation"] else "",
        options=eval_options("alpaca_eval"),
        instructions=config["evaluation"].get("alpaca_eval", {}).get("instructions"),
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
        f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval alpaca --model {params.model} --model-id {wildcards.model_id} '
        "--instructions {params.instructions} --judge {params.judge} --out {output} {params.options} > {log} 2>&1"


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
        model=eval_model_path,
        judge=judge_arg("arena_hard") if "arena_hard" in config["evaluation"] else "",
        options=eval_options("arena_hard"),
        questions=config["evaluation"].get("arena_hard", {}).get("questions"),
        baselines=arena_baselines(),
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
        f'OMP_NUM_THREADS={{threads}} {GPUS_RUN}' '"$GIFT_PYTHON" -m gift.cli eval arena-hard --model {params.model} --model-id {wildcards.model_id} '
        "--questions {params.questions} {params.baselines} --judge {params.judge} --out {output} {params.options} > {log} 2>&1"
