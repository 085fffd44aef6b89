"""Weight sync to the colocated vLLM engine under FSDP1: every parameter, those of the root unit included.

TRL hands its vLLM engine the policy before the Trainer wraps it in FSDP. Its FSDP1 walk then meets only the
FSDP units below that module (the decoder layers) and never the root unit that owns the embeddings, the final
norm and the head, so those would stay at their initial values inside vLLM. Walking from the wrapped root syncs
them too (the root is summoned last, after every nested unit; TRL strips FSDP's prefixes from the names).
"""

from __future__ import annotations

from typing import Any


def sync_every_parameter(trainer: Any) -> None:
    """Make the trainer's vLLM weight sync start from the FSDP-wrapped model (a no-op without vLLM or FSDP1)."""
    engine = getattr(trainer, "vllm_generation", None)
    if engine is None:
        return
    sync = engine.sync_weights

    def sync_weights() -> None:
        from torch.distributed.fsdp import FullyShardedDataParallel

        wrapped = getattr(trainer, "model_wrapped", None)
        if engine._dist.fsdp_version == 1 and isinstance(wrapped, FullyShardedDataParallel):
            engine.model = wrapped  # the Trainer wraps at train(), after the engine took the bare model
        sync()

    engine.sync_weights = sync_weights
