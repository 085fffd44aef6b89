"""Tiny policies and reward models built and warm-started here (smoke and tiny configs); hub models need no rule."""


rule build_tiny_model:
    input:
        build_inputs,
    output:
        directory(GRID.model_dir("{model}")),
    log:
        f"{LOGS}/models/{{model}}.log",
    benchmark:
        f"{BENCH}/models/{{model}}.tsv"
    params:
        kind=build_kind,
        size=lambda wildcards: build_spec(wildcards.model)["size"],
        seed=lambda wildcards: build_spec(wildcards.model)["seed"],
        max_steps=lambda wildcards: (
            f"--max-steps {build_spec(wildcards.model)['max_steps']} " if build_spec(wildcards.model).get("max_steps") else ""
        ),
    conda:
        CONDA_ENV
    # Every training and eval job waits on the models: build them before any other job that is ready.
    priority: 10
    threads: 1
    shell:
        step("-m gift.cli build {params.kind} --data {input} --out {output} --seed {params.seed} --size {params.size} "
             "{params.max_steps}", env="OMP_NUM_THREADS={threads} ")
