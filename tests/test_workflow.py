"""The Snakemake workflow: DAGs of the three configs, lint, config validation, and the smoke run end to end."""

from __future__ import annotations

import base64
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def snakemake(*args: str, cwd: Path = ROOT, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's 'Job stats' table."""
    lines = output[output.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in lines:
        m = re.fullmatch(r"(\S+)\s+(\d+)", line.strip())
        if not m or m.group(1) == "total":
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def evals_by_kind(jobs: list[dict]) -> dict[str, int]:
    """The jobs of rule eval per eval kind, read from each job's output (<model_id>/rlvr_<dataset>.json,
    lm_eval.json, alpaca_eval.json, arena_hard.json)."""
    names = [Path(j["output"]).stem for j in jobs if j["rule"] == "eval"]
    return dict(collections.Counter("rlvr" if n.startswith("rlvr_") else n for n in names))


def dry_run(config: str | Path) -> dict[str, int]:
    # --forceall: the whole DAG, whatever results/ already holds from an earlier run
    proc = snakemake("-n", "--forceall", "--nolock", "--quiet", "rules", "--configfile", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return job_counts(proc.stdout)


def expected_counts_from_config(cfg: dict, by_kind: bool = False) -> dict[str, int]:
    """Jobs per rule, computed from the config alone: one run per distinct resolved setting, trained
    `runs_per_job` at a time by the runs on one backbone and reward model, one eval per (model, kind),
    the report rules once per figure/table. `by_kind`: the jobs of rule eval per eval kind instead (rlvr,
    lm_eval, alpaca_eval, arena_hard), as `evals_by_kind` counts them."""
    from gift.methods import METHODS

    runs: dict[str, tuple] = {}  # setting -> (backbone, reward model)
    evaluated: dict[str, set] = {"rlvr": set(), "lm_eval": set(), "alpaca_eval": set(), "arena_hard": set()}
    datasets: set[str] = set()
    for exp in cfg["experiments"].values():
        training = {k: v for k, v in {**cfg["training"], **exp.get("training", {})}.items() if k != "method_args"}
        for backbone in exp["backbones"]:
            for data in exp["data"]:
                datasets.update(d for d in (data["train"], data.get("eval")) if d)
                for method in exp["methods"]:
                    # a variant may name the methods it is for (the others run without it) and its own batch sizes
                    variants = [v for v in exp.get("variants", []) if method in v.get("methods", [method])]
                    for variant in variants or [{"args": {}}]:
                        args = {**METHODS[method].defaults, **cfg["training"].get("method_args", {}),
                                **cfg["methods"][method].get("args", {}),
                                **cfg["backbones"][backbone].get("method_args", {}), **exp.get("method_args", {})}
                        for ov in exp.get("overrides", []):
                            want = {k: v if isinstance(v, list) else [v] for k, v in ov["when"].items()}
                            have = {"backbone": backbone, "dataset": data["train"], "method": method}
                            if all(have[k] in v for k, v in want.items()):
                                args.update(ov["method_args"])
                        args.update(variant["args"])
                        for seed in exp.get("seeds", cfg["seeds"]):
                            key = json.dumps([backbone, data["train"], data.get("eval"), method, seed, args,
                                              {**training, **variant.get("training", {})}], sort_keys=True)
                            runs.setdefault(key, (backbone, exp.get("reward_model")))
                            for kind in exp.get("evaluate", []):
                                evaluated[kind].add((backbone, key + (data.get("eval") or "") if kind == "rlvr" else key))
        if exp.get("evaluate_base"):
            for backbone in exp["backbones"]:
                for kind in exp.get("evaluate", []):
                    evaluated[kind].add((backbone, "base"))
    per_job = cfg.get("runs_per_job", 1)
    jobs = sum(-(-n // per_job) for n in collections.Counter(runs.values()).values())
    evals_per_job = cfg.get("evals_per_job", 1)
    if evals_per_job > 1:
        # `evals_per_job` at a time by the evaluated models' backbone, in one rule
        on_backbone = collections.Counter(backbone for keys in evaluated.values() for backbone, _ in keys)
        per_kind = {"eval_job": sum(-(-n // evals_per_job) for n in on_backbone.values())}
    else:
        per_kind = {kind: len(keys) for kind, keys in evaluated.items()} if by_kind else {
            "eval": sum(len(keys) for keys in evaluated.values())}
    counts = {
        "train": jobs, "prepare_data": len(datasets), **per_kind,
        "figure": len(cfg["report"]["figures"]), "table": len(cfg["report"]["tables"]),
        "grid_json": 1, "report_md": 1, "all": 1,
        # the download step for hub models and data, the preflight on GPU configs
        "fetch": int(any(b.get("hub") and not b.get("build") for b in cfg["backbones"].values())),
        "doctor": int(cfg.get("device") == "gpu"),
        # an API judge's check, which only that judge's evaluations wait for
        "judge": sum(bool(evaluated[k]) and str(cfg["evaluation"].get(k, {}).get("judge", "")).startswith("api:")
                     for k in ("alpaca_eval", "arena_hard")),
    }
    return {k: v for k, v in counts.items() if v}


def test_paper_dag_jobs_per_rule_match_the_config():
    cfg = yaml.safe_load((CONFIG_DIR / "paper.yaml").read_text())
    counts = dry_run(CONFIG_DIR / "paper.yaml")
    assert counts == expected_counts_from_config(cfg)
    # The paper's grid by hand: Fig 2a 6 + Fig 2b 1 + Fig 3 3 (GSM8K GIFT shared) + the pi_ref ablation 1
    # + the first-update ablations 2 (the clipped run is Fig 3's) + Fig 4 4 + Fig 5 4 + its two named variants
    # 2 x 2 + Fig 6 4 + GFT 4 backbones x 3 methods = 41 runs; 6 RLHF models (4 trained, 2 untrained) per
    # Table 3 eval; the final models' RLVR evaluations: GFT's 12 + Figs 3, 4 and 5's 4 each + the variants' 4.
    kinds = evals_by_kind(dry_run_jobs(CONFIG_DIR / "paper.yaml"))
    expected = expected_counts_from_config(cfg, by_kind=True)
    assert kinds == {k: expected[k] for k in ("rlvr", "lm_eval", "alpaca_eval", "arena_hard")}
    assert counts["train"] == 41 and kinds["alpaca_eval"] == 6 and kinds["rlvr"] == 12 + 3 * 4 + 4


def test_smoke_dag_runs_every_rule():
    counts = dry_run(CONFIG_DIR / "smoke.yaml")
    rules = snakemake("--list-rules", "--nolock").stdout.split()
    # the download step, the local hub mirror and the GPU preflight run only for configs with hub items or
    # GPUs (the paper DAG and the rehearsal run them)
    preflight = {"fetch", "build_mirror", "doctor", "judge"}
    assert set(rules) - preflight == set(counts), (set(rules) - preflight) ^ set(counts)
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    assert counts["train"] == expected_counts_from_config(cfg)["train"]


def test_tiny_dag_builds():
    cfg = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    counts = dry_run(CONFIG_DIR / "tiny.yaml")
    expected = expected_counts_from_config(cfg)
    assert {k: counts[k] for k in expected} == expected
    assert counts["build_tiny_model"] == 4


def test_lint_passes():
    proc = snakemake("--lint", "--nolock")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bad_config_fails_before_any_job_with_key_path_and_reason(tmp_path):
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    cfg["training"]["max_steps"] = "two"
    cfg["name"] = "bad-config-test"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake("--cores", "1", "--nolock", "--configfile", str(bad))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "training.max_steps: 'two' is not of type 'integer'" in out
    assert not (ROOT / "results" / "bad-config-test").exists()


def test_cross_reference_error_names_the_key_path(tmp_path):
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    cfg["experiments"]["fig3"]["methods"] = ["gift", "ppo-typo"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", "--nolock", "--configfile", str(bad))
    assert proc.returncode != 0
    # the schema rejects nothing here (methods lists are names); gift.grid names the key path
    assert "experiments.fig3.methods: method 'ppo-typo' has no entry in `methods`" in proc.stdout + proc.stderr


# ---- optional evaluation sections and GPU scheduling -------------------------------------------------

@pytest.mark.parametrize("kind", ["alpaca_eval", "arena_hard", "lm_eval"])
def test_a_config_without_an_evaluation_section_runs_the_rest(tmp_path, kind):
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    cfg["evals_per_job"] = 1  # one job per evaluation, by rule eval
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(cfg))
    full_jobs = dry_run_jobs(tmp_path / "full.yaml")
    full, full_kinds = job_counts_of(full_jobs), evals_by_kind(full_jobs)
    del cfg["evaluation"][kind]
    path = tmp_path / f"no_{kind}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    jobs = dry_run_jobs(path)
    counts, kinds = job_counts_of(jobs), evals_by_kind(jobs)
    assert kind not in kinds and full_kinds[kind] > 0
    # the other evaluations keep their jobs
    assert kinds == {k: n for k, n in full_kinds.items() if k != kind}
    assert counts["eval"] == full["eval"] - full_kinds[kind]
    if kind == "lm_eval":
        assert "lm_eval_twins" not in counts
    # every other rule keeps its jobs
    others = {r: n for r, n in full.items() if r not in ("eval", "lm_eval_twins", "all")}
    assert {r: counts[r] for r in others} == others


def job_counts_of(jobs: list[dict]) -> dict[str, int]:
    return dict(collections.Counter(j["rule"] for j in jobs))


def dry_run_jobs(config: str | Path, *extra: str) -> list[dict]:
    """Each job of a dry run with --printshellcmds: its rule, output, resources and shell command."""
    proc = snakemake("-n", "-p", "--forceall", "--nolock", "--configfile", str(config), *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs: list[dict] = []
    for line in proc.stdout.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line.strip()):
            jobs.append({"rule": m.group(1), "output": None, "resources": {}, "shell": None})
        elif jobs and line.strip().startswith("output:"):
            jobs[-1]["output"] = line.split(":", 1)[1].strip()
        elif jobs and line.strip().startswith("resources:"):
            pairs = (p.split("=", 1) for p in line.split(":", 1)[1].split(", "))
            jobs[-1]["resources"] = {k.strip(): v.strip() for k, v in pairs}
        elif jobs and line.startswith("Shell command:"):
            jobs[-1]["shell"] = line.split(":", 1)[1].strip()
    return jobs


GPU_RULES = {"train", "eval"}
WRAPPER = re.compile(r'"\$GIFT_PYTHON" -m gift\.cli gpus run --gpus (\d+) -- "\$GIFT_PYTHON" ')


def test_gpu_config_jobs_hold_a_gpu_resource_and_run_under_gift_gpus(tmp_path):
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    cfg["device"] = "gpu"
    cfg["runs_per_job"] = 1  # one `accelerate launch` per run
    cfg["evals_per_job"] = 1  # one job per evaluation, each on its own GPUs
    wide = next(iter(cfg["backbones"]))
    accel = tmp_path / "accel.yaml"
    accel.write_text("distributed_type: MULTI_GPU\nnum_processes: 8\n")
    cfg["backbones"][wide].update({"accelerate": str(accel), "gpus": {"train": 2, "eval": 3}})
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    from gift import grid as G

    grid = G.expand(cfg)
    jobs = dry_run_jobs(path, "--resources", "gpu=8")
    seen = set()
    for job in jobs:
        if job["rule"] == "doctor":  # the preflight holds the largest training run's GPUs
            assert job["resources"]["gpu"] == "2", job
            continue
        if job["rule"] not in GPU_RULES:
            assert "gpu" not in job["resources"] and "gpus run" not in (job["shell"] or ""), job
            continue
        seen.add(job["rule"])
        m = WRAPPER.search(job["shell"])
        assert m, job["shell"]
        run_id = re.search(r"run_configs/(\S+)\.yaml", job["shell"]) if job["rule"] == "train" else None
        model_id = re.search(r"--model-id (\S+)", job["shell"])
        backbone = grid.runs[run_id.group(1)].backbone if run_id else grid.models[model_id.group(1)].backbone
        want = (2 if job["rule"] == "train" else 3) if backbone == wide else 1
        assert job["resources"]["gpu"] == m.group(1) == str(want), job
        if job["rule"] == "train" and backbone == wide:
            # one training process per GPU the job holds, whatever the accelerate file says
            assert re.search(rf"--config_file {re.escape(str(accel))} --num_processes 2 (--main_process_port \d+ )?"
                             r"-m gift\.cli train", job["shell"]), job["shell"]
    assert seen == GPU_RULES
    assert set(evals_by_kind(jobs)) == {"rlvr", "lm_eval", "alpaca_eval", "arena_hard"}


def test_cpu_config_jobs_hold_no_gpu_and_run_as_before():
    jobs = dry_run_jobs(CONFIG_DIR / "smoke.yaml")
    # smoke runs its evaluations 4 to a process (evals_per_job), in the one rule eval_job
    gpu_jobs = [j for j in jobs if j["rule"] in GPU_RULES | {"eval_job"}]
    assert {j["rule"] for j in gpu_jobs} == {"train", "eval_job"}
    assert all(j["resources"].get("gpu") == "0" for j in gpu_jobs)
    assert not any("gpus run" in (j["shell"] or "") or "accelerate" in (j["shell"] or "") for j in jobs)
    train = next(j for j in gpu_jobs if j["rule"] == "train")
    assert re.match(r'OMP_NUM_THREADS=1 "\$GIFT_PYTHON" -m gift\.cli train --config ', train["shell"]), train
    # smoke trains its 13 runs in 4 processes: every run once, in the jobs of runs_per_job 4
    trained = [re.findall(r"--config results/smoke/run_configs/(\S+)\.yaml", j["shell"])
               for j in gpu_jobs if j["rule"] == "train"]
    assert sorted(len(t) for t in trained) == [2, 3, 4, 4]
    assert sorted(r for t in trained for r in t) == sorted(yaml_runs(CONFIG_DIR / "smoke.yaml"))


def test_prepared_data_carries_the_configs_reward():
    # the RLVR evaluations score each example with the reward it names: the config's, passed at preparation
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    prepared = {m[1]: m[2] for j in dry_run_jobs(CONFIG_DIR / "smoke.yaml") if j["rule"] == "prepare_data"
                for m in [re.search(r"--dataset (\S+) .*--reward (\S+)", j["shell"])]}
    assert prepared == {name: d["reward"] for name, d in cfg["datasets"].items()}
    assert prepared["aime2024"] == "dapo" and prepared["math"] == "math"


def yaml_runs(path: Path) -> list[str]:
    from gift import grid as G

    return list(G.expand(G.load_config(path)).runs)


def test_node_config_one_gpu_per_job_and_its_job_counts():
    jobs = dry_run_jobs(CONFIG_DIR / "node.yaml", "--resources", "gpu=8")
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["rule"]] = counts.get(job["rule"], 0) + 1
        if job["rule"] in GPU_RULES:
            m = WRAPPER.search(job["shell"])
            assert m and m.group(1) == job["resources"]["gpu"] == "1", job
            assert "accelerate" not in job["shell"]
        else:
            assert "gpus run" not in (job["shell"] or ""), job
    # 2 datasets x (GIFT rollout, GIFT pi_ref, GRPO, DAPO) x 3 seeds = 24 runs, each with a final pass@1;
    # the sweep: GIFT, GRPO, DAPO x 3 rates x 3 seeds = 27 runs; Tables 2-3: the 9 MATH runs and the untrained model.
    kinds = evals_by_kind(jobs)
    assert counts["train"] == 24 + 27 and kinds["rlvr"] == 24
    assert kinds["lm_eval"] == kinds["alpaca_eval"] == kinds["arena_hard"] == 10
    assert counts["figure"] == 4 and counts["table"] == 3 and counts["report_md"] == 1


# ---- the smoke workflow end to end ------------------------------------------------------------------

LINKED = ("Snakefile", "workflows", "config", "profiles", "gift", "figures", "tables", "evals")


def _checkout(tmp: Path) -> Path:
    """A working directory that sees this checkout's code and writes its own results/."""
    for name in LINKED:
        (tmp / name).symlink_to(ROOT / name)
    return tmp


def _declared_outputs(workdir: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from gift import grid as G

    grid = G.expand(G.load_config(CONFIG_DIR / "smoke.yaml"))
    out = [workdir / grid.run_dir(r) / "DONE" for r in grid.runs]
    out += [workdir / grid.train_done(j) for j in grid.train_jobs]
    out += [workdir / grid.eval_path(m, e) for m, e in grid.eval_targets()]
    out += [workdir / grid.results / "figures" / f"{f}.{ext}" for f in grid.figures() for ext in ("png", "pdf")]
    out += [workdir / grid.results / "tables" / f"{t}.{ext}" for t in grid.tables() for ext in ("csv", "md", "tex")]
    out += [workdir / grid.results / "grid.json", workdir / grid.results / "REPORT.md"]
    return out


@pytest.mark.slow
def test_smoke_workflow_end_to_end_and_second_invocation_has_nothing_to_do(tmp_path):
    work = _checkout(tmp_path)
    t0 = time.time()
    proc = snakemake("--cores", "2", cwd=work, timeout=1800)
    wall = time.time() - t0
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    missing = [str(p) for p in _declared_outputs(work) if not p.exists()]
    assert not missing, missing
    again = snakemake("-n", "--cores", "2", cwd=work)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    report = snakemake("--report", str(work / "report.html"), cwd=work, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (work / "report.html").stat().st_size > 10_000
    print(f"smoke workflow wall time: {wall:.0f} s")


def _marked_incomplete(work: Path) -> set[str]:
    """Outputs Snakemake's metadata marks incomplete (.snakemake/incomplete/<urlsafe base64 of the path>)."""
    root = work / ".snakemake" / "incomplete"
    out = set()
    for dirpath, _, files in os.walk(root):
        for name in files:
            parts = Path(dirpath, name).relative_to(root).parts
            if parts and parts[0] == "migration_underway":
                continue
            encoded = "".join(p[1:] if p.startswith("@") else p for p in parts)
            try:
                out.add(base64.urlsafe_b64decode(encoded).decode())
            except ValueError:
                continue
    return out


@pytest.mark.slow
def test_smoke_workflow_killed_midway_finishes_without_redoing_finished_jobs(tmp_path):
    work = _checkout(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=work, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = work / "results" / "smoke" / "runs"
    deadline = time.time() + 1200
    try:
        while time.time() < deadline and proc.poll() is None:
            if runs.exists() and any(runs.glob("*/DONE")):
                break
            time.sleep(1)
        assert proc.poll() is None, "the workflow ended before any run finished: nothing to interrupt"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    results = work / "results" / "smoke"
    # Finished jobs: training runs with DONE and prepared datasets, less the outputs Snakemake still
    # marks incomplete (a job killed after writing its output but before Snakemake recorded it).
    incomplete = _marked_incomplete(work)
    done_data = [p for d in results.glob("data/*") if (d / "summary.json").exists()
                 and str(d.relative_to(work)) not in incomplete for p in d.glob("*.jsonl")]
    done_runs = [p for p in results.glob("runs/*/DONE") if str(p.relative_to(work)) not in incomplete]
    finished = {p: p.stat().st_mtime_ns for p in [*done_runs, *done_data]}
    assert finished
    # what the README tells the user: after a hard kill the lock stays until `snakemake --unlock`
    locked = snakemake("--cores", "2", cwd=work)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr, locked.stderr[-2000:]
    assert snakemake("--unlock", cwd=work).returncode == 0
    again = snakemake("--cores", "2", cwd=work, timeout=1800)
    assert again.returncode == 0, again.stdout[-5000:] + again.stderr[-5000:]
    redone = [str(p) for p, mtime in finished.items() if p.stat().st_mtime_ns != mtime]
    assert not redone, redone
    missing = [str(p) for p in _declared_outputs(work) if not p.exists()]
    assert not missing, missing


def test_every_rule_declares_a_benchmark_file():
    # `all` runs nothing; every other rule's job leaves a benchmark TSV for the report's slowest-jobs table
    text = "\n".join(p.read_text() for p in [ROOT / "Snakefile", *sorted((ROOT / "workflows").glob("*.smk"))])
    # rules may sit in an `if` block (rule eval: one job per evaluation, or eval_job for grouped jobs)
    blocks = re.split(r"^ *rule (\w+):", text, flags=re.M)[1:]
    rules = dict(zip(blocks[::2], blocks[1::2], strict=True))
    assert len(rules) > 10 and {"eval_job", "eval"} <= set(rules)
    missing = [name for name, body in rules.items() if name != "all" and not re.search(r"\n +benchmark:\n", body)]
    assert not missing, f"rules without a benchmark: {missing}"


def test_a_training_jobs_threads_are_shared_by_its_ranks(tmp_path):
    cfg = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    cfg.update(device="gpu", runs_per_job=1, evals_per_job=1)
    wide = next(iter(cfg["backbones"]))
    accel = tmp_path / "accel.yaml"
    accel.write_text("distributed_type: MULTI_GPU\nnum_processes: 8\n")
    cfg["backbones"][wide].update({"accelerate": str(accel), "gpus": {"train": 8, "eval": 1}})
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    # the Slurm profile's threads for a training job
    jobs = [j for j in dry_run_jobs(path, "--resources", "gpu=8", "--cores", "64", "--set-threads", "train=64")
            if j["rule"] == "train"]
    omp = {("--num_processes 8" in j["shell"], re.search(r"OMP_NUM_THREADS=(\d+) ", j["shell"]).group(1))
           for j in jobs}
    assert omp == {(True, "8")}, "8 threads for each of the 8 ranks, not 64 each"
    from gift import grid as G

    node = G.load_config(CONFIG_DIR / "node.yaml")  # one process per run: it keeps the job's threads
    assert {G.threads_per_process(64, G.train_processes(node, b)) for b in node["backbones"]} == {64}
