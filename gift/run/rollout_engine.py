"""The rollout engine of a training run: TRL's colocated vLLM as the suite builds it, and the sampling both engines use.

TRL 1.16 builds its colocated engine with `max_num_seqs` = per-device batch x vLLM tensor parallel size x
steps_per_generation and a fixed `max_num_batched_tokens` of 4096 (trl/trainer/grpo_trainer.py,
trl/generation/vllm_generation.py). vLLM 0.31 refuses a token budget below `max_num_seqs`
(vllm/config/scheduler.py, `SchedulerConfig.verify_max_model_len`), so the paper's 32B runs (16 x 4 x 128 =
8192 sequences) could not start. The suite raises the budget to `max_num_seqs` where 4096 is too small.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

# The token budget TRL 1.16 passes to vLLM's LLM(...) for a colocated engine.
TRL_MAX_NUM_BATCHED_TOKENS = 4096


def engine_limits(per_device_train_batch_size: int, tensor_parallel_size: int, steps_per_generation: int,
                  batched_tokens_floor: int = TRL_MAX_NUM_BATCHED_TOKENS) -> dict[str, int]:
    """The scheduler limits a run's colocated vLLM engine gets: TRL's `max_num_seqs`, and a token budget that holds it.

    One prefill step must be able to schedule a token of every sequence; TRL's 4096 stays where it suffices
    (a larger budget enlarges vLLM's profiling forward pass and so its memory reservation).
    """
    seqs = int(per_device_train_batch_size) * int(tensor_parallel_size or 1) * int(steps_per_generation)
    return {"max_num_seqs": seqs, "max_num_batched_tokens": max(int(batched_tokens_floor), seqs)}


def run_engine_limits(method_args: dict[str, Any]) -> dict[str, int]:
    """`engine_limits` of a run from its resolved method arguments (per-device batch and steps_per_generation set)."""
    return engine_limits(method_args["per_device_train_batch_size"], method_args.get("vllm_tensor_parallel_size") or 1,
                         method_args.get("steps_per_generation") or method_args.get("gradient_accumulation_steps") or 1)


def scheduler_problem(limits: dict[str, int]) -> str | None:
    """Why vLLM 0.31's scheduler would refuse these limits (its rule in `SchedulerConfig`), or None."""
    if limits["max_num_batched_tokens"] < limits["max_num_seqs"]:
        return (f"vLLM refuses max_num_batched_tokens {limits['max_num_batched_tokens']} below max_num_seqs "
                f"{limits['max_num_seqs']} (per-device batch x vllm_tensor_parallel_size x steps_per_generation)")
    return None


def rolls_out_with_vllm(device: str | None, rollout_backend: str | None, method_args: dict[str, Any]) -> bool:
    """Whether a run of a workflow config generates its rollouts with vLLM where the config is meant to run.

    `method_args.use_vllm` decides when set; else rollout_backend `vllm`, or `auto` on a GPU config.
    """
    if "use_vllm" in method_args:
        return bool(method_args["use_vllm"])
    backend = rollout_backend or "auto"
    return backend == "vllm" or (backend == "auto" and device == "gpu")


def sleep_mode_available() -> bool:
    """Whether vLLM's platform here can put an engine to sleep (CUDA, ROCm, XPU; not the CPU)."""
    from vllm.platforms import current_platform

    return current_platform.is_sleep_mode_available()


def engine_context(args: Any) -> contextlib.AbstractContextManager:
    """What a trainer with config `args` (a GRPOConfig) is built inside: for colocated vLLM rollouts, the suite's
    engine settings (`colocated_engine`); otherwise nothing."""
    if not (args.use_vllm and args.vllm_mode == "colocate"):
        return contextlib.nullcontext()
    limits = engine_limits(args.per_device_train_batch_size, args.vllm_tensor_parallel_size, args.steps_per_generation)
    dtype = "bfloat16" if args.bf16 else "float16" if args.fp16 else "float32"
    return colocated_engine(limits["max_num_batched_tokens"], dtype)


@contextlib.contextmanager
def colocated_engine(max_num_batched_tokens: int, dtype: str) -> Iterator[None]:
    """While a trainer is built: its colocated vLLM engine gets `max_num_batched_tokens`, computes in `dtype` (the
    policy's compute dtype), and on a CPU keeps weights that TRL's weight sync can write.

    TRL passes neither setting through, so its module's `LLM` is wrapped for the duration (and restored). Left to
    itself vLLM would run a float32 policy in bfloat16 (its "auto" dtype downcasts float32 checkpoints), so the
    rollouts would come from another model than the one trained on CPU.
    """
    import trl.generation.vllm_generation as trl_vllm

    stock = trl_vllm.LLM

    def build(*args: Any, **kwargs: Any) -> Any:
        kwargs["max_num_batched_tokens"] = max_num_batched_tokens
        kwargs["dtype"] = dtype
        return stock(*args, **kwargs)

    trl_vllm.LLM = build
    try:
        with _cpu_weights_kept():
            yield
    finally:
        trl_vllm.LLM = stock


@contextlib.contextmanager
def _cpu_weights_kept() -> Iterator[None]:
    """On vLLM's CPU platform, linear layers keep their weight and multiply by it with a plain F.linear.

    After loading, vLLM's CPU build prepacks each linear weight for oneDNN or its AMX kernel and replaces the
    parameter with an empty one (`dispatch_cpu_unquantized_gemm(layer, remove_weight=True)`, called from
    `UnquantizedLinearMethod.process_weights_after_loading`). TRL's weight sync then finds no `weight_loader`
    to write into, and the LM head (which keeps its parameter) would go on multiplying by its stale packed
    copy. Both callers import the function from `vllm.model_executor.layers.utils` when they run, so
    replacing it there while the engine loads covers every dense layer, the head included.
    """
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        yield
        return
    import torch
    from vllm.model_executor.layers import utils

    stock = utils.dispatch_cpu_unquantized_gemm

    def keep_weight(layer: torch.nn.Module, remove_weight: bool) -> None:
        if layer.weight.ndim != 2:  # convolution and expert weights: vLLM's own handling
            return stock(layer, remove_weight)
        layer.cpu_linear = torch.nn.functional.linear

    utils.dispatch_cpu_unquantized_gemm = keep_weight
    try:
        yield
    finally:
        utils.dispatch_cpu_unquantized_gemm = stock


def rollout_sampling(args: Any) -> dict[str, Any]:
    """The sampling parameters of a trainer's rollouts, as both engines get them from TRL (explicitly, every one)."""
    return {"temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k or 0,
            "min_p": args.min_p or 0.0, "repetition_penalty": args.repetition_penalty,
            "max_new_tokens": args.max_completion_length, "generation_kwargs": args.generation_kwargs or {}}


def eval_sampling(temperature: float, max_new_tokens: int) -> dict[str, Any]:
    """The periodic eval's sampling parameters, passed explicitly to either engine (nothing read from the model's
    generation_config.json, whose defaults, e.g. a repetition penalty, only the HF path would inherit)."""
    return {"temperature": temperature, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0,
            "max_new_tokens": max_new_tokens}
