"""On each rank (torchrun, gloo, CPU): wrap a policy in FSDP1 as accelerate's fsdp_7b.yaml does, take an optimizer
step, run TRL's colocated vLLM weight sync into a recording engine, and write what it received beside the full
state dict. argv: policy dir, out dir, "fixed" (sync_every_parameter applied) or "trl" (TRL alone)."""

import functools
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
from torch.distributed.fsdp import FullStateDictConfig, ShardingStrategy, StateDictType
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from transformers import AutoModelForCausalLM
from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer
from trl.distributed import DistributedBackend
from trl.generation.vllm_generation import VLLMGeneration

from gift.run.vllm_sync import sync_every_parameter

policy, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
accelerator = Accelerator(cpu=True)
# accelerate wraps FSDP only on accelerators; the state TRL reads says FSDP1, the wrapping below is accelerate's
# for fsdp_7b.yaml (decoder layers as units, full sharding, original parameters)
accelerator.state.distributed_type = DistributedType.FSDP
accelerator.state.fsdp_plugin = FullyShardedDataParallelPlugin(fsdp_version=1)
model = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32)
names = [n for n, _ in model.named_parameters()]  # unique parameters, tied ones once (as vLLM takes them)
initial = {n: p.detach().clone() for n, p in model.named_parameters()}


class RecordingModel:
    """Stands in for the vLLM model that TRL's colocate sync loads weights into."""

    def __init__(self):
        self.received = {}

    def load_weights(self, weights):
        for name, tensor in weights:
            assert name not in self.received, f"{name} synced twice"
            self.received[name] = tensor.detach().clone()


recorder = RecordingModel()
engine = VLLMGeneration.__new__(VLLMGeneration)  # TRL's sync code without starting vLLM
engine.model, engine.accelerator, engine._dist = model, accelerator, DistributedBackend(accelerator)
engine.mode, engine.enable_sleep_mode = "colocate", False
engine.llm = SimpleNamespace(reset_prefix_cache=lambda: None, llm_engine=SimpleNamespace(model_executor=SimpleNamespace(
    driver_worker=SimpleNamespace(model_runner=SimpleNamespace(model=recorder)))))

wrapped = FSDP(model, auto_wrap_policy=functools.partial(transformer_auto_wrap_policy,
                                                         transformer_layer_cls={Qwen2DecoderLayer}),
               sharding_strategy=ShardingStrategy.FULL_SHARD, use_orig_params=True, device_id=torch.device("cpu"))
trainer = SimpleNamespace(vllm_generation=engine, model_wrapped=wrapped)
if mode == "fixed":
    sync_every_parameter(trainer)

# one step, so that every synced value must be the trained one, not the initial one
optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.5)
ids = torch.randint(0, model.config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(dist.get_rank()))
wrapped(input_ids=ids, labels=ids).loss.backward()
optimizer.step()

engine.sync_weights()
with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False)):
    full = wrapped.state_dict()
torch.save({"received": recorder.received, "full": full, "names": names, "initial": initial,
            "fsdp_units": sum(isinstance(m, FSDP) for m in wrapped.modules())},
           out / f"rank{dist.get_rank()}.pt")
