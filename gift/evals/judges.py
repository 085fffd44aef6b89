"""Judges for AlpacaEval 2 and Arena-Hard v2: an OpenAI-compatible API judge (cached, retried) or a reward model.

Judge output is untrusted: whatever cannot be parsed becomes a missing preference or verdict, is counted
and reported, and never raises. Only infrastructure failures (no API key, a server that keeps failing
after every retry) raise, and every judgment already paid for stays in the on-disk cache.

Layout: this module names a judge (``--judge`` values, named API judges, API keys) and builds its client;
`gift.evals.judge_client` is the cached, retrying chat client; each benchmark's judges live with it
(`gift.evals.alpaca_eval.judges`, `gift.evals.arena_hard.judges`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gift.evals.judge_client import (
    OPENAI_BASE_URL,
    ChatClient,
    JudgeError,
)


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large |x| (AlpacaEval's preference, Arena-Hard's Bradley-Terry)."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# Named API judges: the paper's AlpacaEval annotator (alpaca_eval's weighted_alpaca_eval_gpt4_turbo), the
# newest weighted annotator alpaca_eval ships (same prompt and settings, another model), and Arena-Hard v2's.
API_JUDGES: dict[str, dict[str, str]] = {
    "weighted_alpaca_eval_gpt4_turbo": {"model": "gpt-4-1106-preview", "base_url": OPENAI_BASE_URL},
    "weighted_alpaca_eval_gpt-4o-mini-2024-07-18": {"model": "gpt-4o-mini-2024-07-18", "base_url": OPENAI_BASE_URL},
    "gpt-4.1": {"model": "gpt-4.1", "base_url": OPENAI_BASE_URL},
}


# ---- judge specification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgeSpec:
    """A parsed ``--judge`` value: ``reward-model:DIR`` or ``api:NAME`` / ``api:MODEL@BASE_URL``."""

    kind: str  # "reward-model" or "api"
    target: str  # a directory, or a model name
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.target}" + (f"@{self.base_url}" if self.base_url else "")


def parse_judge(value: str, api_key_env: str = "OPENAI_API_KEY") -> JudgeSpec:
    """Parse ``reward-model:DIR``, ``api:NAME`` (a named judge) or ``api:MODEL@http://host:port/v1``."""
    kind, sep, target = value.partition(":")
    if not sep or not target:
        raise ValueError(f"--judge {value!r}: expected 'reward-model:DIR' or 'api:NAME[@BASE_URL]'")
    if kind == "reward-model":
        return JudgeSpec("reward-model", target)
    if kind == "api":
        model, _, base_url = target.partition("@")
        return JudgeSpec("api", model, base_url or None, api_key_env)
    raise ValueError(f"--judge {value!r}: unknown judge kind {kind!r} (use 'reward-model' or 'api')")


def resolved_judge(value: str) -> tuple[str, str, str | None]:
    """(kind, model or directory, base URL) of a ``--judge`` value, named API judges resolved to their model."""
    spec = parse_judge(value)
    if spec.kind != "api":
        return spec.kind, spec.target, None
    named = API_JUDGES.get(spec.target, {})
    return "api", named.get("model", spec.target), (spec.base_url or named.get("base_url", OPENAI_BASE_URL))


def same_judge(a: str, b: str) -> bool:
    """Whether two ``--judge`` values call the same judge model at the same place."""
    return resolved_judge(a) == resolved_judge(b)


def require_api_key(spec: JudgeSpec) -> str:
    """The API key for an API judge; raises a clear error (before any generation) when it is missing.

    A judge on a custom base URL (e.g. a local vLLM server) needs no key; "EMPTY" is sent then.
    """
    key = os.environ.get(spec.api_key_env, "")
    if key:
        return key
    if spec.base_url:
        return "EMPTY"
    raise JudgeError(f"judge {spec.name} needs an API key: set {spec.api_key_env} "
                     "(or judge with a local OpenAI-compatible server via api:MODEL@http://host:port/v1, "
                     "or offline with reward-model:DIR)")


def make_client(spec: JudgeSpec, cache_path: str | os.PathLike, config_key: str | None = None,
                **kwargs: Any) -> ChatClient:
    """A cached, retrying client for an ``api:`` judge spec (named judges resolve to their model and URL).

    `config_key` (e.g. evaluation.alpaca_eval.judge) is named in the error when the server lacks the model.
    """
    named = API_JUDGES.get(spec.target, {})
    model = named.get("model", spec.target)
    base_url = spec.base_url or named.get("base_url", OPENAI_BASE_URL)
    return ChatClient(model, base_url, require_api_key(spec), cache_path=cache_path, judge_name=spec.name,
                      config_key=config_key, **kwargs)


# ---- reward-model scores ----------------------------------------------------------------------------

def reward_model_scorer(path: str | os.PathLike, batch_size: int = 8, max_length: int = 2048) -> Any:
    """Raw (not length-normalised) scores of a sequence-classification reward model directory."""
    from gift.pretrained import HubUnavailableError, local_model
    from gift.rewards import RewardModelScorer

    try:
        # a directory, or a hub reward model as owner/name@revision from the hub cache (gift fetch)
        path = local_model(str(path), "reward-model judge")
    except HubUnavailableError as err:
        raise FileNotFoundError(f"reward-model judge: {err}") from None
    if not Path(path).is_dir():
        raise FileNotFoundError(f"reward-model judge: {path} is not a from_pretrained directory")
    return RewardModelScorer(str(path), batch_size=batch_size, length_normalize=False, max_length=max_length)


def add_judged_generation_args(parser, max_new_tokens: int, limit_help: str) -> None:
    """The arguments AlpacaEval and Arena-Hard share: judge key and cache, generation settings, limits."""
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    parser.add_argument("--cache", help="judgment cache (JSONL; default beside --out)")
    parser.add_argument("--limit", type=int, help=limit_help)
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="longest answer generated (tokens)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 means greedy decoding")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per generate call")
    parser.add_argument("--seed", type=int, default=0, help="seed of the answers' sampling")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, batch jobs)")
    parser.add_argument("--backend", default="auto", choices=("auto", "hf", "vllm"),
                        help="generation engine: auto takes vLLM when it is installed and a GPU is present")

