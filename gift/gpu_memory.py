"""Per-GPU memory of a run on its node while vLLM generates: the arithmetic behind each backbone's rollout engine.

While the colocated vLLM engine generates, each GPU holds
  training state   bf16 weights + bf16 gradients, sharded over the ranks (ZeRO-3, FSDP full shard), plus fp32
                   master weights and Adam's two moments (12 bytes/parameter) unless they are offloaded to the CPU
  reference model  bf16, sharded, when the trainer runs one (GIFT's implicit reward against pi_ref, a KL term)
  reward model     bf16, whole on every rank (RLHF runs)
  vLLM             vllm_gpu_memory_utilization x the GPU: bf16 weights / tensor parallel size, a fixed overhead
                   (CUDA graphs, sampler), and the KV cache in what is left.
The KV cache must hold `min_kv_sequences` sequences of max_prompt_length + max_completion_length tokens at
2 (K and V) x layers x kv_heads x head_dim x 2 bytes per token, split over the tensor-parallel ranks. With
sleep mode vLLM frees all of it while the policy trains. Activations and logits of the training step are not
modelled here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gift import grid as gift_grid

GB = 1e9
DEFAULTS = {"gpu_memory_gb": 80.0, "vllm_overhead_gb": 3.0, "min_kv_sequences": 32}


@dataclass
class MemoryPlan:
    """One run's per-GPU memory during generation, the lines of its arithmetic and what does not fit."""

    run_id: str
    gpu_gb: float
    resident_gb: float
    vllm_gb: float
    kv_sequences: float
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def accelerate_settings(path: str | Path) -> dict:
    """num_processes, the sharding kind and whether optimizer states / parameters live on the CPU."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    ds = data.get("deepspeed_config") or {}
    fsdp = data.get("fsdp_config") or {}
    kind = data.get("distributed_type", "NO")
    return {
        "num_processes": int(data.get("num_processes", 1)),
        "kind": kind,
        "offload_optimizer": ds.get("offload_optimizer_device", "none") == "cpu" or bool(fsdp.get("fsdp_offload_params")),
        "offload_params": ds.get("offload_param_device", "none") == "cpu" or bool(fsdp.get("fsdp_offload_params")),
    }


def cluster_settings(config: dict) -> dict:
    return {**DEFAULTS, **(config.get("cluster") or {})}


def run_memory(grid: gift_grid.Grid, run_id: str, gpu_gb: float | None = None) -> MemoryPlan:
    """The per-GPU arithmetic of one run (GPU memory from the config's cluster section unless given)."""
    from gift.estimate import logprob_passes, resolved_method_args

    cfg = grid.config
    cl = cluster_settings(cfg)
    gpu_gb = float(gpu_gb or cl["gpu_memory_gb"])
    run = grid.runs[run_id]
    bspec = cfg["backbones"][run.backbone]
    where = f"backbones.{run.backbone}"
    params = float(_need(bspec, "params_b", where)) * GB
    arch = _need(bspec, "arch", where)
    args = resolved_method_args(run.method, run.method_args)
    # a backbone trained without `accelerate launch` is one process on one GPU, nothing sharded or offloaded
    acc = (accelerate_settings(bspec["accelerate"]) if bspec.get("accelerate") else
           {"num_processes": 1, "kind": "one process", "offload_optimizer": False, "offload_params": False})
    n = acc["num_processes"]
    lines = [f"{run_id}: {params / GB:.1f}B parameters on {n} GPU{'s' if n > 1 else ''} of {gpu_gb:g} GB ({acc['kind']})"]
    problems: list[str] = []

    state = 4 * params / n
    optim = 0.0 if acc["offload_optimizer"] else 12 * params / n
    ref = 2 * params / n if logprob_passes(run.method, args, True)["reference"] else 0.0
    rm = 0.0
    if run.reward_model:
        rm = 2 * float(_need(cfg["reward_models"][run.reward_model], "params_b",
                             f"reward_models.{run.reward_model}")) * GB
    resident = (state + optim + ref + rm) / GB
    lines.append(f"  training state: 4 B x P / {n} = {state / GB:.1f} GB; optimizer "
                 f"{'offloaded to CPU' if acc['offload_optimizer'] else f'12 B x P / {n} = {optim / GB:.1f} GB'}; "
                 f"reference model {ref / GB:.1f} GB; reward model {rm / GB:.1f} GB -> {resident:.1f} GB")

    mode = args.get("vllm_mode", "colocate")
    tp = int(args.get("vllm_tensor_parallel_size") or 1)
    util = float(args.get("vllm_gpu_memory_utilization") or 0.3)
    sleep = bool(args.get("vllm_enable_sleep_mode"))
    budget = util * gpu_gb
    weights = 2 * params / tp / GB
    kv_gb = budget - weights - cl["vllm_overhead_gb"]
    kv_token = 2 * int(arch["layers"]) * int(arch["kv_heads"]) * int(arch["head_dim"]) * 2 / tp
    seq = int(run.training.get("max_prompt_length") or args.get("max_prompt_length") or 1024) + int(
        args.get("max_completion_length") or 256)
    kv_sequences = max(kv_gb, 0.0) * GB / (kv_token * seq)
    lines.append(f"  vLLM ({mode}, tensor parallel {tp}, sleep mode {'on' if sleep else 'off'}): {util:g} x {gpu_gb:g}"
                 f" = {budget:.1f} GB = weights 2 B x P / {tp} = {weights:.1f} + overhead {cl['vllm_overhead_gb']:g} + "
                 f"KV {kv_gb:.1f} GB ({kv_token / 1024:.0f} KiB/token -> {kv_sequences:.0f} sequences of {seq} tokens)")
    if weights + cl["vllm_overhead_gb"] > budget:
        problems.append(f"vLLM's share ({budget:.1f} GB) cannot hold the weights ({weights:.1f} GB per GPU at tensor "
                        f"parallel {tp}): raise vllm_tensor_parallel_size or vllm_gpu_memory_utilization")
    elif kv_sequences < cl["min_kv_sequences"]:
        problems.append(f"the KV cache holds {kv_sequences:.0f} sequences of {seq} tokens, fewer than "
                        f"{cl['min_kv_sequences']}: raise vllm_tensor_parallel_size or vllm_gpu_memory_utilization")
    if mode == "colocate":
        if n % tp:
            problems.append(f"vllm_tensor_parallel_size {tp} does not divide the {n} training processes")
        total = resident + budget
        lines.append(f"  during generation: {resident:.1f} + {budget:.1f} = {total:.1f} GB of {gpu_gb:g}")
        if total > gpu_gb:
            problems.append(f"training state ({resident:.1f} GB) and vLLM ({budget:.1f} GB) need {total:.1f} GB per GPU,"
                            f" more than {gpu_gb:g}: lower vllm_gpu_memory_utilization with a larger tensor parallel "
                            "size, offload the optimizer, or use vllm_mode: server")
        if not sleep and util > 0.3:
            problems.append("vLLM keeps its share while the policy trains: set vllm_enable_sleep_mode: true")
    return MemoryPlan(run_id=run_id, gpu_gb=gpu_gb, resident_gb=resident, vllm_gb=budget, kv_sequences=kv_sequences,
                      lines=lines, problems=problems)


def eval_memory(config: dict, backbone: str, gpus: int, gpu_gb: float | None = None) -> list[str]:
    """Problems (empty: none) of evaluating `backbone` with vLLM over `gpus` GPUs at 0.9 utilisation."""
    cl = cluster_settings(config)
    gpu_gb = float(gpu_gb or cl["gpu_memory_gb"])
    params = float(config["backbones"][backbone].get("params_b") or 0) * GB
    weights = 2 * params / max(gpus, 1) / GB
    room = 0.9 * gpu_gb - weights - cl["vllm_overhead_gb"]
    if room < 0.2 * gpu_gb:
        return [f"{backbone}: {weights:.1f} GB of weights per GPU on {gpus} GPU(s) leaves {room:.1f} GB for the KV "
                f"cache; give its evaluation jobs more GPUs"]
    return []


def _need(mapping: dict, key: str, where: str):
    if mapping.get(key) in (None, ""):
        raise gift_grid.ConfigError(f"{where}.{key}: the GPU memory arithmetic needs it")
    return mapping[key]
