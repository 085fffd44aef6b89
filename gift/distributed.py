"""Process placement under `accelerate launch`: which rank writes shared files, which GPU a process owns."""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any


def rank() -> int:
    """This process's global rank (0 when not launched distributed)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process writes the run's shared files (manifest, metrics, final/, DONE)."""
    return rank() == 0


def local_device() -> str:
    """The device this process owns: `cuda:<LOCAL_RANK>` on a GPU node, else `cpu`.

    A bare "cuda" means the current device, which is cuda:0 on every rank until accelerate sets it:
    eight ranks loading a model there before the trainer exists would all land on GPU 0.
    """
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def init_distributed() -> Any:
    """Initialise the process group that `accelerate launch` set up (a no-op single process); returns the state."""
    import torch
    from accelerate import PartialState

    # without cpu=True accelerate treats CPU processes as independent (no process group, barriers that do not wait)
    return PartialState(cpu=not torch.cuda.is_available())


def wait_for_everyone() -> None:
    """A barrier across ranks when distributed (nothing otherwise)."""
    if world_size() > 1:
        init_distributed().wait_for_everyone()


def zero3_enabled() -> bool:
    """Whether DeepSpeed ZeRO-3 is on for this process: from_pretrained then loads each parameter partitioned."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    return is_deepspeed_zero3_enabled()


def gathered(params: list) -> Any:
    """A context in which ZeRO-3 partitioned `params` are whole on every rank (no-op without ZeRO-3)."""
    if not zero3_enabled():
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(params)


def full_state_dict(model: Any, dtype: Any = None) -> dict | None:
    """On rank 0, the model's whole state dict on the CPU (in `dtype` when given); None on the other ranks.

    Every rank must call it: under ZeRO-3 a model loaded outside the trainer holds only its partition of each
    parameter, gathered here one parameter at a time (so the GPU never holds more than one whole parameter).
    """
    main = is_main_process()
    params = dict(model.named_parameters(remove_duplicate=False))
    copies: dict[int, Any] = {}  # tied parameters stay one tensor, which save_pretrained recognises
    out = {}
    for key, value in model.state_dict().items():
        param = params.get(key)
        if param is None:  # a buffer: never partitioned
            out[key] = value.detach().to("cpu", dtype=dtype if value.is_floating_point() else None, copy=True)
            continue
        if id(param) not in copies:
            with gathered([param]):
                if main:
                    copies[id(param)] = param.data.detach().to("cpu", dtype=dtype, copy=True)
        if main:
            out[key] = copies[id(param)]
    return out if main else None
