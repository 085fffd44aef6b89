"""Sampling completions for chat prompts: vLLM on the GPUs when available, else Hugging Face generate in chunks.

Three callers: evaluations of a saved model (`generate` with a directory: vLLM with tensor parallelism over
the visible GPUs, or the model moved to the GPU), `make_generator` (one engine for a whole benchmark), and
the periodic eval during training (`trainer_generate`: the trainer's own vLLM engine, or its policy with the
sharded weights gathered, each rank generating a share of the prompts).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


def load_model(path: str | Path, tokenizer: Any = None, device: str | None = None) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a `from_pretrained` directory (or hub id), on `device`.

    The default device is this process's GPU when there is one (in bf16), else the CPU (fp32): a 7B model
    left on the CPU would take days to answer a benchmark.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gift.dist import local_device

    path = str(path)
    if not Path(path).exists():
        from gift.data.loading import hub_offline_reason

        reason = hub_offline_reason()
        if reason:
            raise FileNotFoundError(f"model {path!r} is not a local directory and {reason}; "
                                    "point the config at a local from_pretrained directory")
    device = device or local_device()
    tok = tokenizer or AutoTokenizer.from_pretrained(path)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.to(device), tok


def vllm_available() -> bool:
    """Whether vLLM is installed and a CUDA device is present."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _chat_texts(tokenizer: Any, prompts: list[list[dict]]) -> list[str]:
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the tokenizer has no chat template; generation needs one to format chat prompts")
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


_ENGINES: dict[str, Any] = {}


def vllm_engine_args(path: str) -> dict[str, Any]:
    """vLLM's LLM(...) arguments for evaluating `path`: tensor parallel over every visible GPU.

    A 32B model in bf16 (65 GB) fills an 80 GB GPU; spread over the job's GPUs it leaves room for the KV cache.
    """
    import torch

    gpus = max(torch.cuda.device_count(), 1)
    return {"model": path, "tensor_parallel_size": gpus, "dtype": "auto", "gpu_memory_utilization": 0.9,
            "enable_prefix_caching": True}


def vllm_engine(path: str) -> Any:
    """One vLLM engine per model directory and process (the sampled and greedy passes share it)."""
    if path not in _ENGINES:
        from vllm import LLM

        _ENGINES[path] = LLM(**vllm_engine_args(path))
    return _ENGINES[path]


def _generate_vllm(path: str, tokenizer: Any, texts: list[str], n: int, temperature: float, top_p: float,
                   max_new_tokens: int, seed: int, greedy: bool) -> list[list[str]]:
    from vllm import SamplingParams

    llm = vllm_engine(path)
    params = SamplingParams(n=1 if greedy else n, temperature=0.0 if greedy else temperature, top_p=top_p,
                            max_tokens=max_new_tokens, seed=seed)
    outputs = llm.generate(texts, params)
    result = [[o.text for o in out.outputs] for out in outputs]
    return [r * n if greedy else r for r in result]


def generate(model: Any, tokenizer: Any, prompts: list[list[dict]], n: int = 1, temperature: float = 1.0,
             top_p: float = 1.0, max_new_tokens: int = 256, batch_size: int = 32, seed: int = 0,
             greedy: bool = False, progress: bool = True, backend: str = "auto") -> list[list[str]]:
    """`n` completions for each chat prompt (a list of message dicts), as decoded text without special tokens.

    `model` is a loaded causal LM or a `from_pretrained` directory (then `tokenizer` may be None).
    `backend` "auto" uses vLLM when it is installed, a CUDA device is present and `model` is a path;
    "hf" forces Hugging Face generate. Greedy decoding computes one completion and repeats it `n` times.
    Sampling is deterministic for `seed` and a given batch layout; the global RNG state is restored.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not prompts:
        return []
    if backend not in ("auto", "hf", "vllm"):
        raise ValueError(f"unknown backend {backend!r}; choose auto, hf or vllm")
    is_path = isinstance(model, (str, Path))
    if is_path and tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model))
    texts = _chat_texts(tokenizer, prompts)
    if backend == "vllm" or (backend == "auto" and is_path and vllm_available()):
        if not is_path:
            raise ValueError("the vLLM backend needs the model as a directory path")
        return _generate_vllm(str(model), tokenizer, texts, n, temperature, top_p, max_new_tokens, seed, greedy)
    if is_path:
        model, tokenizer = load_model(model, tokenizer)
    return _generate_hf(model, tokenizer, texts, n, temperature, top_p, max_new_tokens, batch_size, seed, greedy,
                        progress)


def _generate_hf(model: Any, tokenizer: Any, texts: list[str], n: int, temperature: float, top_p: float,
                 max_new_tokens: int, batch_size: int, seed: int, greedy: bool, progress: bool,
                 overrides: dict[str, Any] | None = None) -> list[list[str]]:
    import torch

    copies = 1 if greedy else n
    rows = [(i, t) for i, t in enumerate(texts) for _ in range(copies)]
    out: list[list[str]] = [[] for _ in texts]
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    gen_kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                                  "eos_token_id": tokenizer.eos_token_id}
    if greedy:
        gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}; use greedy=True")
        gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    gen_kwargs.update(overrides or {})
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            bar = tqdm(total=len(rows), desc="generate", disable=not progress, leave=False)
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                enc = tokenizer([t for _, t in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
                enc = {k: v.to(device) for k, v in enc.items()}
                generated = model.generate(**enc, **gen_kwargs)
                new = generated[:, enc["input_ids"].shape[1]:]
                for (i, _), ids in zip(chunk, new, strict=True):
                    out[i].append(tokenizer.decode(ids, skip_special_tokens=True))
                bar.update(len(chunk))
            bar.close()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    if greedy:
        out = [o * n for o in out]
    return out


def make_generator(model_dir: str | Path, backend: str = "auto",
                   batch_size: int = 32) -> Callable[[list[list[dict]], dict], list[str]]:
    """One completion per chat prompt from `model_dir`, for a benchmark: vLLM when available, else HF on the GPU.

    The model (or engine) is loaded once, on the first call; `kwargs` are `generate`'s sampling arguments.
    """
    path = str(model_dir)
    state: dict[str, Any] = {}

    def gen(prompts: list[list[dict]], kwargs: dict) -> list[str]:
        use_vllm = backend == "vllm" or (backend == "auto" and vllm_available())
        if use_vllm:
            return [c[0] for c in generate(path, None, prompts, n=1, backend="vllm", **kwargs)]
        if "model" not in state:
            state["model"], state["tokenizer"] = load_model(path)
        kwargs = {"batch_size": batch_size, **kwargs}
        return [c[0] for c in generate(state["model"], state["tokenizer"], prompts, n=1, backend="hf", **kwargs)]

    return gen


def trainer_generate(trainer: Any, tokenizer: Any, prompts: list[list[dict]], n: int = 1, temperature: float = 1.0,
                     top_p: float = 1.0, max_new_tokens: int = 256, batch_size: int = 32, seed: int = 0,
                     greedy: bool = False, progress: bool = False) -> list[list[str]]:
    """`n` completions per prompt from the policy a TRL trainer is training; every rank must call it.

    Each rank generates a contiguous share of the prompts (padded to equal shares, so every rank makes the
    same calls) and the shares are gathered. With vLLM the trainer's own engine generates, after its weights
    are synced; otherwise the policy generates with its sharded weights gathered (ZeRO-3 via TRL's
    unwrap_model_for_generation, FSDP via summon_full_params): a sharded model's `generate` would run on
    shards.
    """
    import math

    from accelerate.utils import gather_object

    if not prompts:
        return []
    acc = trainer.accelerator
    world, rank = acc.num_processes, acc.process_index
    share = math.ceil(len(prompts) / world)
    mine = prompts[rank * share:(rank + 1) * share]
    local = mine + [prompts[-1]] * (share - len(mine))
    texts = _chat_texts(tokenizer, local)
    if getattr(trainer, "use_vllm", False):
        out = _generate_trainer_vllm(trainer, tokenizer, texts, n, temperature, top_p, max_new_tokens, greedy,
                                     seed + rank)
    else:
        from trl.models import unwrap_model_for_generation

        with (unwrap_model_for_generation(trainer.model_wrapped, acc,
                                          gather_deepspeed3_params=trainer.args.ds3_gather_for_generation) as model,
              trainer._dist.summon_full_params(trainer.model_wrapped, recurse=False)):
            # generate() would otherwise take what these leave unset from the model's generation_config.json
            # (a repetition penalty of 1.05 in Qwen2.5-Instruct's, applied to greedy decoding too), which the
            # trainer's vLLM engine never reads
            out = _generate_hf(model, tokenizer, texts, n, temperature, top_p, max_new_tokens, batch_size,
                               seed + rank, greedy, progress,
                               overrides={"top_k": None if greedy else 0, "min_p": None if greedy else 0.0,
                                          "repetition_penalty": 1.0,
                                          "no_repeat_ngram_size": 0})
    gathered = gather_object(out[:len(mine)]) if world > 1 else out[:len(mine)]
    return list(gathered)


def _generate_trainer_vllm(trainer: Any, tokenizer: Any, texts: list[str], n: int, temperature: float, top_p: float,
                           max_new_tokens: int, greedy: bool, seed: int) -> list[list[str]]:
    engine = trainer.vllm_generation
    if trainer.state.global_step != trainer._last_loaded_step:
        engine.sync_weights()
        trainer._last_loaded_step = trainer.state.global_step
    copies = 1 if greedy else n
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    # One request per prompt with `copies` samples: vLLM seeds a request's samples seed, seed + 1, ..., where
    # `copies` requests with one seed would all draw the same completion. TRL splits a tensor-parallel group's
    # outputs by prompt count, which holds only for one sample per request: there the copies are separate
    # requests drawn from the engine's own generator (seeded when it was built), unseeded.
    fields = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_completion_length",
              "generation_kwargs")
    saved = {f: getattr(engine, f) for f in fields}
    engine.temperature, engine.top_p, engine.max_completion_length = (
        0.0 if greedy else temperature, top_p, max_new_tokens)
    engine.top_k, engine.min_p, engine.repetition_penalty = 0, 0.0, 1.0
    one_request = copies == 1 or engine.tensor_parallel_size == 1
    engine.generation_kwargs = {"n": copies, "seed": seed} if one_request else {}
    rows = ids if one_request else [row for row in ids for _ in range(copies)]
    try:
        _, completion_ids, _, _ = engine.generate(prompts=rows, images=None, num_generations=copies)
    finally:
        for f, value in saved.items():
            setattr(engine, f, value)
    decoded = [tokenizer.decode(c, skip_special_tokens=True) for c in completion_ids]
    out = [decoded[i * copies:(i + 1) * copies] for i in range(len(texts))]
    return [o * n for o in out] if greedy else out


def bound_rollout_chunks(trainer: Any, max_rows: int) -> None:
    """Make a trainer's transformers rollouts generate at most `max_rows` sequences per call (whole groups).

    TRL's fallback path generates a rank's whole generation batch in one `generate` call (2048 sequences of
    up to 1024 new tokens per GPU in the paper's setup): its KV cache does not fit. vLLM is left alone; GFT,
    which generates only its sampled members, bounds its calls by the same `rollout_chunk_rows`.
    """
    original = trainer._generate_single_turn
    chunk = whole_groups(max_rows, max(int(getattr(trainer.args, "num_generations", 1) or 1), 1))

    def chunked(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if (trainer.use_vllm or len(prompt_ids) <= chunk or images is not None or multimodal_fields
                or getattr(trainer, "_plan", None) is not None):
            return original(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
        return generate_in_chunks(original, prompt_ids, chunk, num_generations, has_tool_images)

    trainer._generate_single_turn = chunked
    trainer.rollout_chunk_rows = chunk


def whole_groups(max_rows: int, group: int) -> int:
    """The most rows, at most `max_rows` (but at least one group), that hold whole groups of `group` rows."""
    return max(max_rows // group, 1) * group


def generate_in_chunks(generate: Any, prompt_ids: list, chunk: int, num_generations: int,
                       has_tool_images: bool = False) -> tuple[list, None]:
    """TRL's `_generate_single_turn` (`generate`) over slices of at most `chunk` prompt rows, the completions
    joined in order; no sampling log-probs (the transformers path has none)."""
    completions: list = []
    for start in range(0, len(prompt_ids), chunk):
        ids, _ = generate(prompt_ids[start:start + chunk], None, {}, num_generations, has_tool_images)
        completions.extend(ids)
    return completions, None
