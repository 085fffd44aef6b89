"""Global batch sizes in prompts, and the per-device TRL fields that meet them on a given number of processes.

The paper states its batches in prompts: 1024 prompts per rollout batch, 256 per optimizer step
(so 4 optimizer updates per rollout batch), N = 16 responses each. TRL counts completions per device:

    per_device_train_batch_size = micro_batch_prompts x N
    gradient_accumulation_steps = optimizer_batch_prompts / (world_size x micro_batch_prompts)
    steps_per_generation        = gradient_accumulation_steps x rollout_batch_prompts / optimizer_batch_prompts

A run config sets either the three global sizes or TRL's fields directly; where it sets both they
must agree on the world size of the launch.
"""

from __future__ import annotations

import os
from typing import Any

GLOBAL_FIELDS = ("rollout_batch_prompts", "optimizer_batch_prompts", "micro_batch_prompts")
TRL_FIELDS = ("per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation")


class BatchError(ValueError):
    """Global batch sizes that the world size cannot meet exactly, or that contradict TRL fields (names the numbers)."""


def launch_world_size() -> int:
    """The number of training processes of this launch (accelerate and torchrun set WORLD_SIZE; 1 otherwise)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(value)
    except ValueError:
        raise BatchError(f"WORLD_SIZE={value!r} is not an integer") from None
    if size < 1:
        raise BatchError(f"WORLD_SIZE={size} must be >= 1")
    return size


def derive(num_generations: int, rollout_batch_prompts: int, optimizer_batch_prompts: int,
           micro_batch_prompts: int = 1, world_size: int = 1) -> dict[str, int]:
    """TRL's per-device fields that give exactly these global batch sizes on `world_size` processes."""
    names = {"num_generations": num_generations, "rollout_batch_prompts": rollout_batch_prompts,
             "optimizer_batch_prompts": optimizer_batch_prompts, "micro_batch_prompts": micro_batch_prompts,
             "world_size": world_size}
    for name, value in names.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BatchError(f"{name} must be a positive integer, got {value!r}")
    if rollout_batch_prompts % optimizer_batch_prompts:
        raise BatchError(
            f"rollout_batch_prompts {rollout_batch_prompts} is not a multiple of optimizer_batch_prompts "
            f"{optimizer_batch_prompts}: each rollout batch must split into whole optimizer steps")
    per_step = world_size * micro_batch_prompts
    if optimizer_batch_prompts % per_step:
        raise BatchError(
            f"optimizer_batch_prompts {optimizer_batch_prompts} cannot be met on {world_size} process(es) with "
            f"micro_batch_prompts {micro_batch_prompts}: it must be a multiple of world size x micro_batch_prompts "
            f"= {per_step}; change the number of processes or micro_batch_prompts")
    accumulation = optimizer_batch_prompts // per_step
    updates = rollout_batch_prompts // optimizer_batch_prompts
    return {"per_device_train_batch_size": micro_batch_prompts * num_generations,
            "gradient_accumulation_steps": accumulation,
            "steps_per_generation": accumulation * updates}


def updates_per_rollout_batch(method_kwargs: dict[str, Any]) -> int:
    """Optimizer updates per rollout batch (a verl trainer step) of resolved method kwargs: TRL's
    steps_per_generation over gradient_accumulation_steps, at least 1."""
    accumulation = int(method_kwargs.get("gradient_accumulation_steps") or 1)
    steps = int(method_kwargs.get("steps_per_generation") or accumulation)
    return max(1, steps // accumulation)


def resolve(method_kwargs: dict[str, Any], rollout_batch_prompts: int | None, optimizer_batch_prompts: int | None,
            micro_batch_prompts: int | None, world_size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(method kwargs with TRL's batch fields filled in, the batch plan the manifest records).

    With global sizes, the TRL fields are derived; a TRL field the config also sets must equal the
    derived value. Without them, the TRL fields are the config's (TRL's defaults where unset:
    one group per device, no accumulation, one update per rollout batch) and the plan reports the
    global sizes they imply on this world size.
    """
    n = int(method_kwargs.get("num_generations") or 1)
    kwargs = dict(method_kwargs)
    if rollout_batch_prompts is None and optimizer_batch_prompts is None:
        if micro_batch_prompts is not None:
            raise BatchError("micro_batch_prompts is set without rollout_batch_prompts and optimizer_batch_prompts")
        per_device = int(kwargs.get("per_device_train_batch_size") or n)
        accumulation = int(kwargs.get("gradient_accumulation_steps") or 1)
        steps = int(kwargs.get("steps_per_generation") or accumulation)
        kwargs["per_device_train_batch_size"] = per_device
        plan = {"source": "per-device fields",
                "micro_batch_prompts": per_device / n,
                "optimizer_batch_prompts": per_device * accumulation * world_size / n,
                "rollout_batch_prompts": per_device * steps * world_size / n}
    else:
        if rollout_batch_prompts is None or optimizer_batch_prompts is None:
            missing = "rollout_batch_prompts" if rollout_batch_prompts is None else "optimizer_batch_prompts"
            raise BatchError(f"{missing} is missing: global batch sizes need both rollout_batch_prompts and "
                             "optimizer_batch_prompts")
        micro = 1 if micro_batch_prompts is None else micro_batch_prompts
        derived = derive(n, rollout_batch_prompts, optimizer_batch_prompts, micro, world_size)
        clashes = [f"method_args.{k} = {kwargs[k]} (the global sizes give {v})" for k, v in derived.items()
                   if kwargs.get(k) is not None and kwargs[k] != v]
        if clashes:
            raise BatchError(
                f"the global batch sizes (rollout {rollout_batch_prompts}, optimizer {optimizer_batch_prompts}, "
                f"micro {micro} prompts, N = {n}, {world_size} process(es)) contradict {'; '.join(clashes)}; "
                "set one or the other")
        kwargs.update(derived)
        plan = {"source": "global batch sizes", "micro_batch_prompts": micro,
                "optimizer_batch_prompts": optimizer_batch_prompts, "rollout_batch_prompts": rollout_batch_prompts}
        per_device, accumulation, steps = (derived[k] for k in TRL_FIELDS)
    plan.update({"world_size": world_size, "num_generations": n, "per_device_train_batch_size": per_device,
                 "gradient_accumulation_steps": accumulation, "steps_per_generation": steps,
                 "updates_per_rollout_batch": steps / accumulation})
    for key in ("micro_batch_prompts", "optimizer_batch_prompts", "rollout_batch_prompts", "updates_per_rollout_batch"):
        if float(plan[key]).is_integer():
            plan[key] = int(plan[key])
    return kwargs, plan
