"""What a run trains and saves in: fp32 master weights and Adam moments under bf16 autocast, a bf16 final/, and
a final/ written from the last checkpoint with every weight whole when ZeRO-3 loads it partitioned."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gift.run.train import train
from tests.policy_fixtures import SMALL_METHOD_ARGS, length_reward


def _cfg(policy_dir: Path, prompts: Path, out: Path, **method_args) -> dict:
    return {"run_id": "r", "method": "gift", "model": str(policy_dir), "train_data": str(prompts),
            "reward": "gsm8k", "output_dir": str(out), "max_steps": 2, "save_every": 2,
            "method_args": {**SMALL_METHOD_ARGS, **method_args}}


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


def test_bf16_training_steps_fp32_master_weights_with_fp32_adam_moments(policy_dir, prompts, tmp_path, monkeypatch):
    from gift.run import train as gift_train

    # a reward that varies within each group, so that every step has a gradient (a random policy never answers)
    monkeypatch.setattr(gift_train, "_build_reward_funcs", lambda *a: [length_reward])
    # node.yaml's precision and learning rate: an Adam step of ~1e-6 is far below half a bf16 unit of these weights
    run = train(_cfg(policy_dir, prompts, tmp_path / "bf16", bf16=True, learning_rate=1e-6))
    checkpoint = run / "checkpoints" / "checkpoint-2"
    optimizer = torch.load(checkpoint / "optimizer.pt", weights_only=False)
    moments = [t for s in optimizer["state"].values() for k, t in s.items() if k in ("exp_avg", "exp_avg_sq")]
    assert moments and all(t.dtype == torch.float32 for t in moments)

    before, after = _weights(policy_dir), _weights(checkpoint)
    assert all(t.dtype == torch.float32 for t in after.values())
    moved = [k for k in after if not torch.equal(after[k], before[k].float())]
    assert len(moved) >= 0.9 * len(after), f"only {len(moved)} of {len(after)} tensors moved"
    # two Adam steps move a weight by at most ~2 x lr (bias-corrected first step: exactly lr per element)
    step = max((after[k] - before[k].float()).abs().max().item() for k in moved)
    assert 5e-7 < step < 3e-6

    # final/ holds the trained weights in the training precision
    final = _weights(run / "final")
    assert {t.dtype for t in final.values()} == {torch.bfloat16}
    assert all(torch.equal(final[k], after[k].to(torch.bfloat16)) for k in final)


class _FakeZero3:
    """DeepSpeed ZeRO-3's partitioned loading, for a CPU: a model that from_pretrained loads while the trainer
    config exists holds an empty tensor per parameter; `gathered` makes the listed parameters whole."""

    def __init__(self):
        self.whole: dict[int, torch.Tensor] = {}
        self.gathered_params = 0

    def partition(self, model):
        for p in model.parameters():
            self.whole[id(p)] = p.data
            p.data = torch.empty(0, dtype=p.dtype)
        return model

    def gathered(self, params):
        from contextlib import contextmanager

        @contextmanager
        def ctx():
            for p in params:
                p.data = self.whole[id(p)]
            self.gathered_params += len(params)
            yield
            for p in params:
                p.data = torch.empty(0, dtype=p.dtype)

        return ctx()


def test_a_run_killed_after_its_last_step_writes_whole_weights_under_zero3(policy_dir, prompts, tmp_path,
                                                                         monkeypatch):
    import shutil

    from transformers import AutoModelForCausalLM

    from gift import distributed as dist
    run = train(_cfg(policy_dir, prompts, tmp_path / "z3"))
    shutil.rmtree(run / "final")
    (run / "DONE").unlink()  # killed while saving final/, after the last checkpoint

    fake = _FakeZero3()
    load = AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **kw: fake.partition(load(*a, **kw)))
    monkeypatch.setattr(dist, "zero3_enabled", lambda: True)
    monkeypatch.setattr(dist, "gathered", fake.gathered)
    train(_cfg(policy_dir, prompts, tmp_path / "z3"))

    assert (run / "DONE").exists()
    final, checkpoint = _weights(run / "final"), _weights(run / "checkpoints" / "checkpoint-2")
    assert final.keys() == checkpoint.keys() and fake.gathered_params > 0
    for key, value in checkpoint.items():
        assert final[key].shape == value.shape and torch.equal(final[key], value), key


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_full_state_dict_without_zero3_is_the_state_dict_in_the_asked_dtype(policy_dir, dtype):
    from transformers import AutoModelForCausalLM

    from gift.distributed import full_state_dict

    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    state = full_state_dict(model, dtype)
    reference = model.state_dict()
    assert state.keys() == reference.keys()
    assert all(torch.equal(state[k], reference[k].to(dtype)) for k in reference)


def test_the_one_process_memory_plan_counts_what_autocast_training_holds(policy_dir):
    """gift.gpu_memory's bytes per parameter against the tensors of a real bf16-autocast AdamW step."""
    from transformers import AutoModelForCausalLM

    from gift.gpu_memory import training_bytes

    model = AutoModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    n = sum(p.numel() for p in model.parameters())
    held = {"state": sum(p.numel() * p.element_size() + p.grad.numel() * p.grad.element_size()
                         for p in model.parameters()),
            "optimizer": sum(t.numel() * t.element_size() for s in optimizer.state.values()
                             for k, t in s.items() if k != "step")}
    plan = training_bytes({"kind": "NO", "num_processes": 1, "offload_optimizer": False}, reference=True)
    assert plan["state"] == held["state"] / n and plan["optimizer"] == held["optimizer"] / n
    assert plan["reference"] == 4  # TRL builds pi_ref in the policy's dtype: fp32


def test_node_config_memory_plan_is_one_process_with_a_stated_margin():
    from gift import grid as G
    from gift.gpu_memory import run_memory

    grid = G.expand(G.load_config(Path(__file__).resolve().parents[1] / "config" / "node.yaml"))
    grpo = next(r for r in grid.runs if r.endswith("-grpo-s0") and "sweep" not in r)
    plan = run_memory(grid, grpo)
    # 1.54e9 parameters: 16 B of fp32 weights, gradients and moments + 4 B of fp32 pi_ref (GRPO's KL), 0.3 x 80 vLLM
    assert plan.resident_gb == pytest.approx(20 * 1.54) and plan.vllm_gb == pytest.approx(24.0)
    assert plan.ok, plan.problems
    assert any("margin 4 GB" in line for line in plan.lines)
