"""GIFT on two data-parallel CPU ranks (torchrun, gloo): every group lives whole on one rank."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.policy_fixtures import build_random_policy, write_addition_prompts

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_groups_stay_whole_on_every_data_parallel_rank(tmp_path):
    policy = build_random_policy(tmp_path / "policy")
    data = write_addition_prompts(tmp_path / "train.jsonl", n=32)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(ROOT / "tests/scripts/distributed_gift.py"), str(policy),
           str(data), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    # 2 optimizer steps x 2 micro-steps per rank, each micro-batch 2 groups of 4
    assert [len(r["calls"]) for r in ranks] == [4, 4]
    for step in range(2):
        owner: dict[int, int] = {}
        for rank, r in enumerate(ranks):
            for call in r["calls"][2 * step : 2 * step + 2]:
                ids = call["group_ids"]
                assert len(ids) == 8 and all(ids[i] == ids[i - i % 4] for i in range(8))
                for gid in set(ids):
                    assert owner.setdefault(gid, rank) == rank, f"group {gid} is on two ranks"
        assert len(owner) == 2 * 2 * 2, "each step covers 8 distinct groups across the two ranks"


def _fsdp_sync(policy: Path, out: Path, mode: str) -> list[dict]:
    import torch

    out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(ROOT / "tests/scripts/distributed_fsdp_sync.py"), str(policy),
           str(out), mode]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


def test_fsdp_sync_to_vllm_sends_every_trained_parameter_whole(tmp_path):
    import torch

    policy = build_random_policy(tmp_path / "policy", layers=2)
    for rank in _fsdp_sync(policy, tmp_path / "fixed", "fixed"):
        assert rank["fsdp_units"] == 3, "the root unit and one per decoder layer, as fsdp_7b.yaml wraps"
        assert sorted(rank["received"]) == sorted(rank["names"])
        for name, tensor in rank["received"].items():
            assert tensor.shape == rank["full"][name].shape and torch.equal(tensor, rank["full"][name]), name
        # the step moved the top-level weights too, so a stale value would not pass as synced
        assert not torch.equal(rank["received"]["model.embed_tokens.weight"], rank["initial"]["model.embed_tokens.weight"])


def test_trl_alone_leaves_the_root_units_weights_out_of_the_fsdp_sync(tmp_path):
    # the defect sync_every_parameter exists for: if TRL ever syncs them itself, this test says so
    policy = build_random_policy(tmp_path / "policy", layers=2)
    rank = _fsdp_sync(policy, tmp_path / "trl", "trl")[0]
    missing = set(rank["names"]) - set(rank["received"])
    assert {"model.embed_tokens.weight", "model.norm.weight"} <= missing
    assert all(".layers." not in name for name in missing)
