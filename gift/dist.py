"""Process placement under `accelerate launch`: which rank writes shared files, which GPU a process owns."""

from __future__ import annotations

import os
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
