"""The GPU check for a short borrowed machine (one GPU, nothing downloaded): GIFT (rollout reference) and GRPO
trained for a few updates by `gift train` in bf16 autocast with HF generation, on a random policy of Qwen2-0.5B's
architecture built here. Checks finite losses, fp32 weights and Adam moments, and prints gift.gpu_memory's
prediction against torch.cuda.max_memory_allocated and the seconds per update. --cpu: the same on a tiny model
(everything up to the CUDA calls). Run through tests/scripts/device_check.sh.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# modules the training path imports (gift itself comes from this checkout)
REQUIRED = ("torch", "transformers", "accelerate", "datasets", "trl", "yaml", "jinja2", "safetensors", "tokenizers")
# Qwen2.5-0.5B's shape (its config.json): 24 layers, hidden 896, 14 query / 2 KV heads, MLP 4864, 151936 tokens, tied
QWEN2_05B = {"hidden": 896, "layers": 24, "heads": 14, "kv_heads": 2, "intermediate": 4864, "vocab_size": 151936}
TINY = {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 128, "vocab_size": 1024}


def preflight() -> dict[str, str]:
    """Versions of what the check imports; exits 3 naming whatever is missing."""
    versions, missing = {}, []
    for name in REQUIRED:
        try:
            versions[name] = getattr(importlib.import_module(name), "__version__", "?")
        except ImportError as err:
            missing.append(f"{name} ({err})")
    if missing:
        print("device check: missing " + "; ".join(missing) + ". Bring their wheels: tests/scripts/device_check.sh "
              "--build-wheels DIR here, then --wheels DIR there", file=sys.stderr)
        sys.exit(3)
    return versions


def make_probe(cuda: bool):
    import torch
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        """Per optimizer step: its wall time, the dtypes of the weights and Adam moments, the memory held."""

        def __init__(self):
            self.durations, self.steady, self.param_dtypes, self.moment_dtypes = [], [], set(), set()
            self._t0 = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
            if cuda:
                torch.cuda.synchronize()
                self.steady.append(torch.cuda.memory_allocated())
            self.durations.append(time.perf_counter() - self._t0)
            self.param_dtypes |= {str(p.dtype) for p in model.parameters()}
            self.moment_dtypes |= {str(t.dtype) for s in optimizer.state.values() for k, t in s.items()
                                   if k in ("exp_avg", "exp_avg_sq")}

    return Probe()


def run_method(method: str, policy: Path, prompts: Path, work: Path, steps: int, cpu: bool, shape: dict) -> dict:
    import torch

    from gift import gpu_memory
    from gift.estimate import logprob_passes, resolved_method_args
    from gift.files import read_jsonl
    from gift.run.train import train

    method_args = {"num_generations": 4, "max_completion_length": 8 if cpu else 64, "learning_rate": 1e-5,
                   "bf16": True, "gradient_checkpointing": not cpu, "temperature": 1.0, "disable_tqdm": True}
    if method == "gift":
        method_args["implicit_reference"] = "rollout"
    prompts_per_update = 2 if cpu else 8
    cfg = {"run_id": f"device-{method}", "method": method, "model": str(policy), "train_data": str(prompts),
           "reward": "gsm8k", "output_dir": str(work / method), "max_steps": steps, "save_every": steps + 1,
           "rollout_backend": "hf", "rollout_batch_prompts": prompts_per_update,
           "optimizer_batch_prompts": prompts_per_update, "micro_batch_prompts": 1 if cpu else 2,
           "method_args": method_args}
    probe = make_probe(not cpu)
    t0 = time.perf_counter()
    run = train(cfg, on_config_change="restart", callbacks=[probe])
    wall = time.perf_counter() - t0
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("step", 0) > 0]
    losses = [r.get("loss") for r in rows]

    n_params = sum(v for v in _param_count(policy).values())
    reference = logprob_passes(method, resolved_method_args(method, method_args), True)["reference"]
    plan = gpu_memory.training_bytes({"kind": "NO", "num_processes": 1, "offload_optimizer": False}, reference)
    predicted = (plan["state"] + plan["optimizer"] + plan["reference"]) * n_params
    # between steps the gradients are freed: fp32 weights + the two moments (+ pi_ref) stay
    held_between_steps = (plan["state"] / 2 + plan["optimizer"] + plan["reference"]) * n_params
    out = {"steps": len(rows), "losses": losses, "wall_s": round(wall, 1),
           # after the first update (CUDA kernels, allocator warm-up), or the only one
           "s_per_update": round(sum(probe.durations[1:]) / (len(probe.durations) - 1) if len(probe.durations) > 1
                                 else sum(probe.durations), 3),
           "first_update_s": round(probe.durations[0], 3) if probe.durations else None,
           "param_dtypes": sorted(probe.param_dtypes), "moment_dtypes": sorted(probe.moment_dtypes),
           "reference_model": reference, "predicted_gb": round(predicted / 1e9, 3)}
    if not cpu:
        peak = torch.cuda.max_memory_allocated()
        steady = max(probe.steady) if probe.steady else 0
        out.update(peak_gb=round(peak / 1e9, 3), peak_over_predicted=round(peak / predicted, 3),
                   between_steps_gb=round(steady / 1e9, 3),
                   between_steps_over_weights_and_moments=round(steady / held_between_steps, 3))
    problems = []
    if len(rows) != steps:
        problems.append(f"{len(rows)} of {steps} steps logged")
    if not losses or not all(isinstance(v, int | float) and math.isfinite(v) for v in losses):
        problems.append(f"losses not all finite: {losses}")
    if probe.param_dtypes != {"torch.float32"} or probe.moment_dtypes != {"torch.float32"}:
        problems.append(f"weights {sorted(probe.param_dtypes)}, Adam moments {sorted(probe.moment_dtypes)}: "
                        "expected torch.float32 (master weights, bf16 autocast)")
    out["problems"] = problems
    return out


def _param_count(policy: Path) -> dict[str, int]:
    from safetensors import safe_open

    with safe_open(str(policy / "model.safetensors"), "pt") as f:
        return {k: math.prod(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="a tiny model on the CPU (no CUDA call)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer updates per method (5 on a GPU, 2 --cpu)")
    parser.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    ns = parser.parse_args(argv)
    versions = preflight()
    import tempfile

    import torch

    from gift.run import train as gift_train
    from gift.tiny.char_policy import build_char_policy
    from tests.policy_fixtures import length_reward, write_addition_prompts

    if not ns.cpu and not torch.cuda.is_available():
        print(f"device check: no CUDA device (torch {torch.__version__}, CUDA {torch.version.cuda}); "
              "use --cpu for the dry run", file=sys.stderr)
        return 3
    steps = ns.steps or (2 if ns.cpu else 5)
    shape = TINY if ns.cpu else QWEN2_05B
    work = Path(ns.work or tempfile.mkdtemp(prefix="gift-device-check-"))
    device = "cpu" if ns.cpu else torch.cuda.get_device_name(0)
    print(f"device check on {device}: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)

    t0 = time.perf_counter()
    policy = build_char_policy(work / "policy", max_positions=4096, dtype="bfloat16", **shape)
    n_params = sum(_param_count(policy).values())
    prompts = write_addition_prompts(work / "train.jsonl", n=2 * steps * 8)
    print(f"random Qwen2 policy ({', '.join(f'{k} {v}' for k, v in shape.items())}): {n_params / 1e6:.1f}M "
          f"parameters, built in {time.perf_counter() - t0:.0f} s", flush=True)
    # a reward that varies within each group (a random policy never answers a sum), so every update has a gradient
    gift_train._build_reward_funcs = lambda *a: [length_reward]

    results = {"device": device, "versions": versions, "params": n_params, "shape": shape, "steps": steps, "runs": {}}
    for method in ("gift", "grpo"):
        if not ns.cpu:
            torch.cuda.empty_cache()
        results["runs"][method] = r = run_method(method, policy, prompts, work, steps, ns.cpu, shape)
        mem = (f"; memory: peak {r['peak_gb']:.2f} GB, predicted {r['predicted_gb']:.2f} GB (ratio "
               f"{r['peak_over_predicted']:.2f}), between steps {r['between_steps_gb']:.2f} GB = "
               f"{r['between_steps_over_weights_and_moments']:.2f} x fp32 weights + moments"
               f"{' + pi_ref' if r['reference_model'] else ''}" if not ns.cpu else "")
        print(f"{method}: {r['steps']} updates, {r['s_per_update']:.2f} s/update after the first "
              f"({r['first_update_s']:.2f} s), losses {', '.join(format(v, '.4g') for v in r['losses'])}, weights "
              f"{'/'.join(r['param_dtypes'])}, Adam moments {'/'.join(r['moment_dtypes'])}{mem}", flush=True)
        for problem in r["problems"]:
            print(f"  PROBLEM: {problem}", flush=True)
    g, p = results["runs"]["gift"], results["runs"]["grpo"]
    results["gift_over_grpo_s_per_update"] = round(g["s_per_update"] / p["s_per_update"], 3)
    results["ok"] = not (g["problems"] or p["problems"])
    print(f"GIFT/GRPO seconds per update: {results['gift_over_grpo_s_per_update']:.2f}; "
          f"{'all checks passed' if results['ok'] else 'FAILED'}", flush=True)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "device_check.json").write_text(json.dumps(results, indent=1))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
