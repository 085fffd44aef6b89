"""config/node.yaml through the rehearsal mechanics on a CPU: its grid with the models swapped for tiny ones
of the same architecture class (a local hub mirror at the same hub ids and revisions), budgets shrunk, every
rule run by Snakemake. Slow (about 6.5 minutes on 2 busy cores): `python -m pytest -m slow tests/test_node_rehearsal.py`.
Both tests need the rehearsal's local hub mirror (gift.hub.mirror, the config's `mirror` section) and skip without it."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gift import grid as G

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "config" / "node.yaml"
JUDGE = "Skywork/Skywork-Reward-V2-Llama-3.1-8B-40M"


def node_rehearsal(node: dict, hf_home: str) -> dict:
    """node.yaml on a CPU: one seed, every experiment and sweep point kept, a few steps of a few prompts."""
    cfg = copy.deepcopy(node)
    cfg.update(name="node_rehearsal", size="smoke", device="cpu", seeds=[0])
    cfg.pop("estimate", None)
    archs = {spec["hub"]: "Qwen2ForCausalLM" for spec in cfg["backbones"].values()}
    cfg["mirror"] = {"hf_home": hf_home, "architectures": {**archs, JUDGE: "LlamaForSequenceClassification"},
                     "size": {"hidden": 32, "layers": 2, "heads": 2, "kv_heads": 1, "max_positions": 1024}}
    for spec in cfg["datasets"].values():
        spec["limits"] = {"train": 48, "test": 8}
        spec.pop("num_examples", None)
        if spec.get("selection"):
            spec["selection"] = 8
    for spec in cfg["backbones"].values():
        spec.pop("gpus", None)
        spec.pop("method_args", None)  # vLLM engine settings
    cfg["reward_models"] = {"judge": {"hub": JUDGE, "revision": "main"}}
    # The node's batch structure in miniature: 4 prompts per rollout batch, 1 per optimizer step (4 updates).
    cfg["training"].update(max_steps=4, cadence_unit="update", eval_every=2, eval_limit=4, eval_k=1, save_every=2,
                           max_prompt_length=640,
                           rollout_batch_prompts=4, optimizer_batch_prompts=1, micro_batch_prompts=1)
    cfg["training"]["method_args"].update(num_generations=4, max_completion_length=12, bf16=False,
                                          gradient_checkpointing=False)
    cfg["experiments"]["sweep_lr"]["training"] = {"max_steps": 4, "eval_every": 2}
    cfg["evaluation"] = {
        "rlvr": {"k": 1, "temperature": 1.0, "max_new_tokens": 12, "limit": 8},
        "lm_eval": {"tasks": "twins", "limit": 4},
        "alpaca_eval": {"instructions": "synthetic:8:0", "judge": "reward-model:judge", "limit": 8,
                        "max_new_tokens": 12},
        "arena_hard": {"questions": "synthetic:4:4:0", "judge": "reward-model:judge", "limit": 8,
                       "max_new_tokens": 12},
    }
    cfg["sandbox"] = {"on_missing": "warn"}
    return cfg


def test_node_rehearsal_config_keeps_the_node_grid():
    pytest.importorskip("gift.hub.mirror")
    node = G.load_config(NODE)
    cfg = node_rehearsal(node, "results/node_rehearsal/hf")
    G.validate(cfg)
    grid, full = G.expand(cfg), G.expand(node)
    # the same runs and evaluated models, seed 0 of each
    assert sorted(grid.runs) == sorted(r for r in full.runs if r.endswith("-s0"))
    assert sorted(grid.eval_targets()) == sorted(t for t in full.eval_targets()
                                                 if t[0].endswith("-s0") or t[0].endswith("-base"))
    assert {grid.config["backbones"][b]["hub"] for b in grid.backbones_used()} == {"Qwen/Qwen2.5-1.5B-Instruct"}


@pytest.mark.slow
def test_node_grid_runs_through_the_rehearsal_on_a_cpu(tmp_path):
    pytest.importorskip("gift.hub.mirror")
    for name in ("Snakefile", "workflows", "config", "profiles", "gift", "evals", "figures", "tables"):
        (tmp_path / name).symlink_to(ROOT / name)
    cfg = node_rehearsal(G.load_config(NODE), str(tmp_path / "hf"))
    path = tmp_path / "node_rehearsal.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = tmp_path / "results" / "node_rehearsal"
    grid = G.expand(cfg)
    for run_id in grid.runs:
        assert (results / "runs" / run_id / "DONE").exists(), run_id
    for fig in grid.figures():
        assert (results / "figures" / f"{fig}.png").stat().st_size > 0
    table3 = (results / "tables" / "table3.md").read_text()
    assert "1.5B-DAPO" in table3 and "1.5B-Instruct" in table3
    claims = {c["cid"] for c in json.loads((results / "REPORT.claims.json").read_text())["claims"]}
    assert "C1" in claims
