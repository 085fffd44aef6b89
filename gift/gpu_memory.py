"""Per-GPU memory of a run on its node while vLLM generates: the arithmetic behind each backbone's rollout engine.

While the colocated vLLM engine generates, each GPU holds (see `training_bytes`)
  training state   ZeRO-3: bf16 weights + bf16 gradients (4 bytes/parameter) with fp32 master weights and Adam's two
                   moments (12) beside them; FSDP (accelerate upcasts to fp32 under mixed precision) and one process
                   (`gift train` loads fp32, bf16 is autocast): fp32 weights + fp32 gradients (8) and the moments
                   (8). Sharded over the ranks under ZeRO-3 and FSDP, whole on every rank otherwise; the optimizer
                   part is 0 when offloaded to the CPU
  reference model  when the trainer runs one (gift.trainers.passes.needs_reference: GIFT's implicit reward
                   against pi_ref, a KL term): bf16 under ZeRO-3, the policy's fp32 otherwise (TRL builds it in
                   the policy's dtype), sharded like the policy
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
# memory_margin_gb: what the arithmetic leaves free on each GPU during generation: the CUDA context and NCCL
# buffers of each process (about 1-2 GB, outside both PyTorch's allocator and vLLM's share) and the caching
# allocator's fragmentation.
DEFAULTS = {"gpu_memory_gb": 80.0, "vllm_overhead_gb": 3.0, "min_kv_sequences": 32, "memory_margin_gb": 4.0}


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


def accelerate_settings(path: str | Path | None) -> dict:
    """num_processes, the sharding kind and whether optimizer states / parameters live on the CPU (no accelerate
    config: one process)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {} if path else {}
    ds = data.get("deepspeed_config") or {}
    fsdp = data.get("fsdp_config") or {}
    kind = data.get("distributed_type", "NO")
    return {
        "num_processes": int(data.get("num_processes", 1)),
        "kind": kind,
        "offload_optimizer": ds.get("offload_optimizer_device", "none") == "cpu" or bool(fsdp.get("fsdp_offload_params")),
        "offload_params": ds.get("offload_param_device", "none") == "cpu" or bool(fsdp.get("fsdp_offload_params")),
    }


def training_bytes(acc: dict, reference: bool) -> dict[str, float]:
    """Bytes per policy parameter on each GPU: the weights and gradients ("state"), the optimizer's fp32 tensors
    ("optimizer") and the reference model ("reference"), for accelerate settings `acc` (see the module docstring)."""
    zero3 = acc["kind"] == "DEEPSPEED"
    shards = acc["num_processes"] if acc["kind"] in ("DEEPSPEED", "FSDP") else 1
    state, optimizer, ref = (4.0, 12.0, 2.0) if zero3 else (8.0, 8.0, 4.0)
    return {"state": state / shards, "optimizer": 0.0 if acc["offload_optimizer"] else optimizer / shards,
            "reference": ref / shards if reference else 0.0, "shards": shards}


def cluster_settings(config: dict) -> dict:
    return {**DEFAULTS, **(config.get("cluster") or {})}


def run_memory(grid: gift_grid.Grid, run_id: str, gpu_gb: float | None = None) -> MemoryPlan:
    """The per-GPU arithmetic of one run (GPU memory from the config's cluster section unless given)."""
    from gift.estimate import resolved_method_args
    from gift.trainers.passes import needs_reference

    cfg = grid.config
    cl = cluster_settings(cfg)
    gpu_gb = float(gpu_gb or cl["gpu_memory_gb"])
    run = grid.runs[run_id]
    bspec = cfg["backbones"][run.backbone]
    where = f"backbones.{run.backbone}"
    params = float(_need(bspec, "params_b", where)) * GB
    arch = _need(bspec, "arch", where)
    args = resolved_method_args(run.method, run.method_args)
    acc = accelerate_settings(bspec.get("accelerate"))
    n = acc["num_processes"]
    lines = [f"{run_id}: {params / GB:.1f}B parameters on {n} GPU{'s' if n > 1 else ''} of {gpu_gb:g} GB ({acc['kind']})"]
    if bspec.get("active_params_b"):
        # every expert's weights are resident (training state, vLLM, KV of the attention layers alike)
        lines.append(f"  mixture of experts: {float(bspec['active_params_b']):g}B of {params / GB:.1f}B active per "
                     "token; memory counts all parameters")
    problems: list[str] = []

    per_param = training_bytes(acc, needs_reference(run.method, args))
    state, optim, ref = (per_param[k] * params for k in ("state", "optimizer", "reference"))
    rm = 0.0
    if run.reward_model:
        rm = 2 * float(_need(cfg["reward_models"][run.reward_model], "params_b",
                             f"reward_models.{run.reward_model}")) * GB
    resident = (state + optim + ref + rm) / GB
    k = per_param["shards"]
    optim_text = ("offloaded to CPU" if acc["offload_optimizer"]
                  else f"{per_param['optimizer'] * k:g} B x P / {k} = {optim / GB:.1f} GB")
    lines.append(f"  training state: {per_param['state'] * k:g} B x P / {k} = {state / GB:.1f} GB; optimizer {optim_text}; "
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
        margin = float(cl["memory_margin_gb"])
        lines.append(f"  during generation: {resident:.1f} + {budget:.1f} = {total:.1f} GB of {gpu_gb:g} "
                     f"(margin {margin:g} GB: {gpu_gb - total:.1f} GB free)")
        if total + margin > gpu_gb:
            problems.append(f"training state ({resident:.1f} GB) and vLLM ({budget:.1f} GB) need {total:.1f} GB per GPU,"
                            f" more than {gpu_gb:g} less a margin of {margin:g} GB: lower vllm_gpu_memory_utilization with a larger tensor parallel "
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
