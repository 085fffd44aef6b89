"""`gift fetch`: what a config needs, an offline report without a traceback, and a fetched hub cache that the
jobs then read offline through the hub code path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gift import grid as G
from gift.data.registry import REGISTRY
from gift.hub import fetch as F
from tests.policy_fixtures import build_random_policy

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_the_paper_config_needs_every_model_dataset_task_and_evaluator_file():
    cfg = yaml.safe_load(PAPER.read_text())
    items = F.needs(cfg)
    by_kind: dict[str, dict[str, F.Need]] = {}
    for n in items:
        by_kind.setdefault(n.kind, {})[n.name] = n
    # by hand from the config: every backbone an experiment names, the reward model, every dataset it reads
    backbones = {b for e in cfg["experiments"].values() for b in e["backbones"]}
    assert set(by_kind["model"]) == backbones | {"skywork-reward-v2"}
    for name, need in by_kind["model"].items():
        spec = cfg["backbones"].get(name) or cfg["reward_models"][name]
        assert (need.source, need.revision) == (spec["hub"], spec["revision"])
    datasets = {d[role] for e in cfg["experiments"].values() for d in e["data"] for role in ("train", "eval")
                if d.get(role)}
    assert set(by_kind["dataset"]) == datasets
    for name, need in by_kind["dataset"].items():
        assert need.source == REGISTRY[name].hub_id and need.revision == REGISTRY[name].revision
    assert by_kind["dataset"]["infinity_instruct"].config == "0625"
    assert set(by_kind["lm_eval"]) == {"truthfulqa", "bbq", "mbpp", "arc_challenge", "winogender", "gpqa", "musr"}
    dests = {n.dest for n in by_kind["file"].values()}
    ev = cfg["evaluation"]
    assert ev["arena_hard"]["questions"] in dests and set(ev["arena_hard"]["baseline_answers"]) <= dests
    assert ev["alpaca_eval"]["instructions"] in dests
    assert all(n.source.startswith("https://") for n in by_kind["file"].values())


def test_configs_of_built_models_and_twins_need_nothing():
    assert F.needs(G.load_config(ROOT / "config" / "smoke.yaml")) == []


def test_offline_fetch_reports_what_is_missing_and_how_to_get_it_without_a_traceback(tmp_path):
    report = tmp_path / "fetch.json"
    env = {**ENV, "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "fetch", "--config", str(PAPER), "--report", str(report)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    data = json.loads(report.read_text())
    n_items = len(F.needs(yaml.safe_load(PAPER.read_text())))
    assert len(data["items"]) == n_items and data["missing"] == n_items
    assert all(item["fix"] for item in data["items"])
    assert f"0 of {n_items} items fetched; {n_items} missing" in proc.stdout
    assert "MISSING  model    qwen3-32b" in proc.stdout and "hf auth login" not in proc.stdout.split("fix:")[0]


# ---- the success path: a hub that answers (mocked), then the jobs' real loaders on the fetched cache --------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LocalHub(F.Hub):
    """Serves repositories from local directories into a Hugging Face cache laid out as the hub client does."""

    def __init__(self, cache: Path, models: dict[str, Path], datasets: dict[str, Path]):
        self.cache, self.models, self.datasets = cache, models, datasets

    def reachable(self):
        return None

    def _snapshot(self, kind: str, repo: str, revision: str, src: Path) -> str:
        import shutil

        root = self.cache / f"{kind}--{repo.replace('/', '--')}"
        commit = revision if len(revision) == 40 else COMMIT
        snap = root / "snapshots" / commit
        shutil.copytree(src, snap, dirs_exist_ok=True)
        if commit != revision:
            (root / "refs").mkdir(parents=True, exist_ok=True)
            (root / "refs" / revision).write_text(commit)
        return str(snap)

    def model(self, need):
        return self._snapshot("models", need.source, need.revision, self.models[need.source])

    def dataset(self, need):
        return self._snapshot("datasets", need.source, need.revision, self.datasets[need.source])


def _gsm8k_repo(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "main").mkdir(parents=True)
    rows = {"train": [(f"Tom has {i} apples and gets 2. How many?", f"{i}+2={i + 2}\n#### {i + 2}") for i in range(6)],
            "test": [(f"{i} plus 3?", f"#### {i + 3}") for i in range(4)]}
    for split, pairs in rows.items():
        pq.write_table(pa.table({"question": [q for q, _ in pairs], "answer": [a for _, a in pairs]}),
                       root / "main" / f"{split}-00000-of-00001.parquet")
    (root / "README.md").write_text("---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n"
                                    "    path: main/train-*\n  - split: test\n    path: main/test-*\n---\n")
    return root


def test_fetched_hub_cache_serves_the_jobs_offline_through_the_hub_code_path(tmp_path):
    policy = build_random_policy(tmp_path / "src" / "policy")
    repo = _gsm8k_repo(tmp_path / "src" / "gsm8k")
    config = {
        "name": "mirror", "size": "paper", "device": "gpu", "seeds": [0],
        "datasets": {"gsm8k": {"source": "hub", "reward": "gsm8k"}},
        "backbones": {"tiny": {"hub": "org/tiny-chat", "revision": "main"}},
        "methods": {"gift": {}},
        "training": {"max_steps": 1, "num_train_epochs": 1, "eval_every": 0, "save_every": 1},
        "experiments": {"e": {"backbones": ["tiny"], "data": [{"train": "gsm8k", "eval": "gsm8k"}],
                              "methods": ["gift"]}},
        "evaluation": {}, "report": {"figures": [], "tables": {}},
    }
    G.validate(config)
    hf_home = tmp_path / "hf"
    hub = LocalHub(hf_home / "hub", {"org/tiny-chat": policy}, {"openai/gsm8k": repo})
    outcomes = F.fetch(config, hub=hub, progress=lambda _: None)
    assert [(o.need.kind, o.ok) for o in outcomes] == [("model", True), ("dataset", True)]
    assert "unpinned (revision main)" in F.format_report(outcomes)

    # the jobs: offline, the same HF_HOME; the hub id resolves to the fetched snapshot
    env = {**ENV, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = tmp_path / "data" / "gsm8k"
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "data", "prepare", "--dataset", "gsm8k", "--source", "hub",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["ground_truth"] for r in train] == [str(i + 2) for i in range(6)]
    assert len((out / "test.jsonl").read_text().splitlines()) == 4
    code = ("from gift.pretrained import local_model; from transformers import AutoModelForCausalLM; "
            "p = local_model('org/tiny-chat@main'); AutoModelForCausalLM.from_pretrained(p); print(p)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith(f"models--org--tiny-chat/snapshots/{COMMIT}")


def test_a_dataset_that_was_not_fetched_fails_offline_naming_the_fix(tmp_path):
    env = {**ENV, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "data", "prepare", "--dataset", "gsm8k", "--source", "hub",
                           "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "gift fetch --config" in proc.stderr and "openai/gsm8k" in proc.stderr


@pytest.mark.parametrize("name", ["GatedRepoError"])
def test_a_gated_item_says_how_to_get_access(name):
    need = F.Need("model", "llama", "meta-llama/Llama-3.2-3B-Instruct", "abc")
    err = type(name, (Exception,), {})("Access to model meta-llama/Llama-3.2-3B-Instruct is restricted")
    assert "request access at https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct" in F._fix(need, err)


def test_a_failed_fetch_leaves_the_workflows_fetch_step_to_run(tmp_path):
    """The fetch rule's output is results/<name>/fetch.json: a failed `gift fetch` must not write it (nor leave an
    earlier one), or Snakemake would take the step as done and never schedule it again."""
    node = ROOT / "config" / "node.yaml"
    env = {**ENV, "HF_HOME": str(tmp_path / "hf")}
    done = tmp_path / "results" / "node" / "fetch.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")  # a report of an earlier, complete fetch
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "fetch", "--config", str(node)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "report: results/node/fetch-missing.json" in proc.stdout
    assert not done.exists()
    assert json.loads(done.with_name("fetch-missing.json").read_text())["missing"] > 0
    for scripts in ("figures", "tables"):  # the rules' scripts, by paths relative to the working directory
        (tmp_path / scripts).symlink_to(ROOT / scripts)
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(node)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert re.search(r"^fetch\s+1$", dry.stdout, re.M), dry.stdout[:2000]
    assert "missing metadata" not in dry.stdout + dry.stderr
