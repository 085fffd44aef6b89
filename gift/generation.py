"""Sampling completions for chat prompts: Hugging Face generate (left padding), or vLLM when available."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


def load_model(path: str | Path, tokenizer: Any = None) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a `from_pretrained` directory (or hub id)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(path)
    if not Path(path).exists():
        from gift.data.loading import hub_offline_reason

        reason = hub_offline_reason()
        if reason:
            raise FileNotFoundError(f"model {path!r} is not a local directory and {reason}; "
                                    "point the config at a local from_pretrained directory")
    tok = tokenizer or AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    return model, tok


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


def _generate_vllm(path: str, tokenizer: Any, texts: list[str], n: int, temperature: float, top_p: float,
                   max_new_tokens: int, seed: int, greedy: bool) -> list[list[str]]:
    from vllm import LLM, SamplingParams

    llm = LLM(model=path, seed=seed)
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
                 max_new_tokens: int, batch_size: int, seed: int, greedy: bool, progress: bool) -> list[list[str]]:
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
