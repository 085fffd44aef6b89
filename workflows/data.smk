"""Prepared datasets: results/<cfg>/data/<dataset>/<split>.jsonl (hub, local copy or synthetic twin)."""


rule prepare_data:
    input:
        preflight(),
    output:
        directory(GRID.data_dir("{dataset}")),
    log:
        f"{LOGS}/data/{{dataset}}.log",
    benchmark:
        f"{BENCH}/data/{{dataset}}.tsv"
    params:
        args=prepare_args,
        seed=lambda wildcards: config["datasets"][wildcards.dataset].get("seed", 0),
    conda:
        CONDA_ENV
    # The model builds read the data: prepare it first (above the builds, so that no build of one model
    # starts while another model's data waits).
    priority: 20
    shell:
        step("-m gift.cli data prepare --dataset {wildcards.dataset} {params.args} --seed {params.seed} --out {output}")
