"""Judges for AlpacaEval 2 and Arena-Hard v2: an OpenAI-compatible API judge (cached, retried) or a reward model.

Judge output is untrusted: whatever cannot be parsed becomes a missing preference or verdict, is counted
and reported, and never raises. Only infrastructure failures (no API key, a server that keeps failing
after every retry) raise, and every judgment already paid for stays in the on-disk cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"

# Named API judges: the paper's AlpacaEval annotator (alpaca_eval's weighted_alpaca_eval_gpt4_turbo), the
# newest weighted annotator alpaca_eval ships (same prompt and settings, another model), and Arena-Hard v2's.
API_JUDGES: dict[str, dict[str, str]] = {
    "weighted_alpaca_eval_gpt4_turbo": {"model": "gpt-4-1106-preview", "base_url": OPENAI_BASE_URL},
    "weighted_alpaca_eval_gpt-4o-mini-2024-07-18": {"model": "gpt-4o-mini-2024-07-18", "base_url": OPENAI_BASE_URL},
    "gpt-4.1": {"model": "gpt-4.1", "base_url": OPENAI_BASE_URL},
}


class JudgeError(RuntimeError):
    """The judge could not be reached or configured (not raised for unparsable judge output)."""


class JudgeModelNotFound(JudgeError):
    """The judge's server does not know the judge's model (retired, misspelt, or not served there)."""


def _model_not_found_message(body: str) -> str | None:
    """The server's message when an error body says the model does not exist, else None."""
    try:
        err = json.loads(body).get("error") or {}
    except (json.JSONDecodeError, AttributeError):
        err = {}
    if not isinstance(err, dict):
        err = {"message": str(err)}
    message = str(err.get("message") or body or "")
    code = str(err.get("code") or err.get("type") or "")
    if code in {"model_not_found", "NotFoundError"} or re.search(r"model\b.*\b(does not exist|not found)", message,
                                                                  re.I | re.S):
        return message.strip() or code
    return None


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


# ---- OpenAI-compatible client with cache and retries ------------------------------------------------

def _post_json(url: str, payload: dict, api_key: str, timeout_s: float) -> dict:
    req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _get_json(url: str, api_key: str, timeout_s: float) -> dict:
    req = urllib.request.Request(url, method="GET", headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _http_body(err: urllib.error.HTTPError) -> str:
    try:
        return err.read().decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - a body that cannot be read is an empty body
        return ""


class JudgmentCache:
    """Append-only JSONL cache keyed by a hash of the request; a torn last line is skipped, not fatal."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = Path(path) if path else None
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.skipped_lines = 0
        if self.path and self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        self._data[row["key"]] = row["response"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.skipped_lines += 1

    @staticmethod
    def key(payload: dict) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def put(self, key: str, response: Any) -> None:
        with self._lock:
            self._data[key] = response
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, "response": response}, ensure_ascii=False) + "\n")
                    f.flush()
                    os.fsync(f.fileno())

    def __len__(self) -> int:
        return len(self._data)


class ChatClient:
    """Chat completions from an OpenAI-compatible endpoint, with an on-disk cache and retries with backoff.

    `post` is the transport (url, payload, api_key, timeout_s) -> response JSON; tests pass a fake one.
    """

    RETRY_HTTP = {408, 409, 429, 500, 502, 503, 504}

    def __init__(self, model: str, base_url: str = OPENAI_BASE_URL, api_key: str = "EMPTY",
                 cache_path: str | os.PathLike | None = None, max_retries: int = 6, backoff_s: float = 2.0,
                 max_backoff_s: float = 60.0, timeout_s: float = 120.0,
                 post: Callable[[str, dict, str, float], dict] | None = None,
                 sleep: Callable[[float], None] = time.sleep, judge_name: str | None = None,
                 config_key: str | None = None) -> None:
        self.model, self.base_url, self.api_key = model, base_url.rstrip("/"), api_key
        # named in a model-not-found error: the judge as the config spells it, and where the config sets it
        self.judge_name = judge_name or f"api:{model}"
        self.config_key = config_key
        self.cache = JudgmentCache(cache_path)
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.timeout_s = timeout_s
        self.post = post or _post_json
        self.sleep = sleep
        self.calls = 0  # paid requests actually sent
        self.cache_hits = 0
        self.retries = 0

    def complete(self, messages: list[dict], **params: Any) -> dict:
        """The response JSON for `messages`; served from the cache when this exact request was made before."""
        payload = {"model": self.model, "messages": messages, **params}
        key = JudgmentCache.key({"base_url": self.base_url, **payload})
        cached = self.cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            return cached
        url = f"{self.base_url}/chat/completions"
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                self.calls += 1
                response = self.post(url, payload, self.api_key, self.timeout_s)
                self.cache.put(key, response)
                return response
            except urllib.error.HTTPError as err:
                last = err
                body = _http_body(err)
                missing = _model_not_found_message(body) if err.code in (400, 404) else None
                if missing is not None:
                    raise self.model_not_found(missing) from None
                if err.code not in self.RETRY_HTTP:
                    raise JudgeError(f"judge {self.judge_name} (model {self.model} at {self.base_url}): HTTP {err.code} "
                                     f"{err.reason}: {body[:300]}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as err:
                last = err
            if attempt < self.max_retries:
                self.retries += 1
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                log.warning("judge request failed (%s); retry %d/%d in %.1fs", last, attempt + 1,
                            self.max_retries, delay)
                self.sleep(delay)
        raise JudgeError(f"judge {self.model} at {self.base_url}: failed after {self.max_retries} retries: {last}")

    def model_not_found(self, server_message: str) -> JudgeModelNotFound:
        """The error that stops a job whose judge model the server does not know."""
        where = f"the config key {self.config_key}" if self.config_key else "--judge"
        return JudgeModelNotFound(
            f"judge {self.judge_name}: the server at {self.base_url} does not know the model {self.model!r} "
            f"({server_message}). Name an available judge in {where}; scores from another judge are not "
            "comparable with the paper's.")

    def check_model(self, get: Callable[[str, str, float], dict] | None = None) -> bool | None:
        """Ask the server's model list (free, before any generation) whether it serves the judge's model.

        Raises JudgeModelNotFound when the list is readable and lacks the model and no judgment is cached;
        returns None (and the first judge request decides) when the server has no readable list.
        """
        try:
            listing = (get or _get_json)(f"{self.base_url}/models", self.api_key, min(self.timeout_s, 30.0))
            ids = {str(m.get("id")) for m in listing["data"] if isinstance(m, dict)}
        except Exception as err:  # noqa: BLE001 - any failure: the list is optional, the first request decides
            log.info("judge %s: no model list at %s (%s); the first request will tell", self.judge_name,
                     self.base_url, err)
            return None
        if self.model not in ids:
            if len(self.cache):
                # judgments already paid for may be all this job needs (a re-scoring): the first request
                # that is not in the cache stops the job instead
                log.warning("judge %s: the server does not list %s; continuing on the %d cached judgments",
                            self.judge_name, self.model, len(self.cache))
                return False
            raise self.model_not_found(f"its model list, {len(ids)} models, does not name it")
        return True

    def stats(self) -> dict:
        return {"requests_sent": self.calls, "cache_hits": self.cache_hits, "retries": self.retries,
                "cache_size": len(self.cache), "cache_skipped_lines": self.cache.skipped_lines}


def message_text(response: Any) -> str | None:
    """The first choice's text of a chat response, or None when the response has no such field."""
    try:
        content = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def first_token_logprobs(response: Any) -> dict[str, float] | None:
    """{token: logprob} of the first generated token's top candidates, or None when absent."""
    try:
        top = response["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        return {str(t["token"]): float(t["logprob"]) for t in top}
    except (KeyError, IndexError, TypeError, ValueError):
        return None


# ---- reward-model scores ----------------------------------------------------------------------------

def reward_model_scorer(path: str | os.PathLike, batch_size: int = 8, max_length: int = 2048) -> Any:
    """Raw (not length-normalised) scores of a sequence-classification reward model directory."""
    from gift.hub import HubUnavailableError, local_model
    from gift.rewards import RewardModelScorer

    try:
        # a directory, or a hub reward model as owner/name@revision from the hub cache (gift fetch)
        path = local_model(str(path), "reward-model judge")
    except HubUnavailableError as err:
        raise FileNotFoundError(f"reward-model judge: {err}") from None
    if not Path(path).is_dir():
        raise FileNotFoundError(f"reward-model judge: {path} is not a from_pretrained directory")
    return RewardModelScorer(str(path), batch_size=batch_size, length_normalize=False, max_length=max_length)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# ---- AlpacaEval judges ------------------------------------------------------------------------------

@dataclass
class PairwiseAnnotation:
    """One AlpacaEval judgment. `preference` in [1, 2] (2: the model's output wins), None if unparsable."""

    preference: float | None
    raw: str | None = None
    swapped: bool = False
    error: str | None = None


def alpaca_template_path() -> Path:
    """The official weighted_alpaca_eval_gpt4_turbo prompt, read from the installed alpaca_eval."""
    import alpaca_eval

    return Path(alpaca_eval.__file__).parent / "evaluators_configs" / "alpaca_eval_clf_gpt4_turbo" / \
        "alpaca_eval_clf.txt"


def _chatml_to_messages(prompt: str) -> list[dict]:
    messages = []
    for block in re.findall(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>", prompt, flags=re.S):
        messages.append({"role": block[0], "content": block[1].strip()})
    return messages


class ApiAlpacaJudge:
    """The weighted AlpacaEval annotator: one token, its logprobs over the identifiers 'm' / 'M'.

    Follows weighted_alpaca_eval_gpt4_turbo (prompt from the installed alpaca_eval, max_tokens 1,
    top 5 logprobs, preference = the probability mass on the model's identifier); the output order is
    randomised per instruction as alpaca_eval does, with the suite's own seeded hash.
    """

    def __init__(self, client: ChatClient, template_path: str | os.PathLike | None = None, seed: int = 0) -> None:
        self.client = client
        self.template = Path(template_path or alpaca_template_path()).read_text(encoding="utf-8")
        self.seed = seed
        self.name = f"api:{client.model}"

    def _swapped(self, instruction: str) -> bool:
        return hashlib.sha256(f"{self.seed}:{instruction}".encode()).digest()[0] % 2 == 1

    def annotate(self, instructions: Sequence[str], baseline_outputs: Sequence[str],
                 model_outputs: Sequence[str], progress: bool = True) -> list[PairwiseAnnotation]:
        from tqdm.auto import tqdm

        out = []
        for ins, base, mod in tqdm(list(zip(instructions, baseline_outputs, model_outputs, strict=True)),
                                   desc="alpaca judge", disable=not progress):
            swapped = self._swapped(ins)
            first, second = (mod, base) if swapped else (base, mod)
            prompt = (self.template.replace("{instruction}", ins).replace("{output_1}", first)
                      .replace("{output_2}", second))
            response = self.client.complete(_chatml_to_messages(prompt), max_tokens=1, temperature=1,
                                            logprobs=True, top_logprobs=5)
            out.append(parse_alpaca_response(response, swapped))
        return out


def parse_alpaca_response(response: Any, swapped: bool) -> PairwiseAnnotation:
    """Preference from a weighted-annotator response; falls back to the text 'm'/'M', else unparsable."""
    raw = message_text(response)
    lp = first_token_logprobs(response)
    p_first: float | None = None
    if lp and ("m" in lp or "M" in lp):
        a, b = lp.get("m", -math.inf), lp.get("M", -math.inf)
        # a NaN or positive log-probability, or none finite, is a broken answer: counted, not a NaN preference
        if any(math.isnan(x) or x > 1e-6 for x in (a, b)) or max(a, b) == -math.inf:
            return PairwiseAnnotation(None, raw, swapped,
                                      error=f"invalid log-probabilities for 'm'/'M' ({a!r}, {b!r}) in the judge's answer")
        top = max(a, b)
        p_first = math.exp(a - top) / (math.exp(a - top) + math.exp(b - top))
    elif raw is not None and raw.strip() in {"m", "M"}:
        p_first = 1.0 if raw.strip() == "m" else 0.0
    if p_first is None:
        return PairwiseAnnotation(None, raw, swapped, error="no 'm'/'M' in the judge's answer")
    p_model = p_first if swapped else 1.0 - p_first
    return PairwiseAnnotation(1.0 + p_model, raw, swapped)


class RewardModelAlpacaJudge:
    """Offline judge: p(model beats reference) = sigmoid(score(model) - score(reference)) from a reward model."""

    def __init__(self, scorer: Any, name: str = "reward-model") -> None:
        self.scorer = scorer
        self.name = name

    def annotate(self, instructions: Sequence[str], baseline_outputs: Sequence[str],
                 model_outputs: Sequence[str], progress: bool = True) -> list[PairwiseAnnotation]:
        prompts = [[{"role": "user", "content": i}] for i in instructions]
        s_model = self.scorer(prompts, list(model_outputs))
        s_base = self.scorer(prompts, list(baseline_outputs))
        out = []
        for m, b in zip(s_model, s_base, strict=True):
            if not (math.isfinite(m) and math.isfinite(b)):
                out.append(PairwiseAnnotation(None, f"{m} {b}", error="non-finite reward score"))
            else:
                out.append(PairwiseAnnotation(1.0 + sigmoid(m - b), f"score_model={m:.6g} score_reference={b:.6g}"))
        return out


# ---- Arena-Hard judges ------------------------------------------------------------------------------

VERDICT_PATTERN = re.compile(r"\[\[([AB<>=]+)\]\]")
VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
_VERDICT_ALIASES = {"A>>B": "A>>B", "A>B": "A>B", "A=B": "A=B", "B=A": "A=B", "B>A": "B>A", "B>>A": "B>>A",
                    "B<<A": "A>>B", "B<A": "A>B", "A<B": "B>A", "A<<B": "B>>A"}


def parse_verdict(judgment: Any) -> str | None:
    """The verdict label of an Arena-Hard judgment, or None (unparsable, or several different verdicts)."""
    if not isinstance(judgment, str):
        return None
    found = {_VERDICT_ALIASES.get(m.strip()) for m in VERDICT_PATTERN.findall(judgment.replace(" ", ""))}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def load_arena_prompts(path: str | os.PathLike) -> dict:
    """The judge prompts (system prompt per category and the user template) (`gift/assets/arena_hard/judge_prompts.yaml` by default)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for key in ("template", "system"):
        if key not in data:
            raise ValueError(f"{path}: judge prompt file has no {key!r} field")
    return data


@dataclass
class ArenaJudge:
    """Base of the Arena-Hard judges: `judge(items)` returns one raw judgment text per (question, A, B)."""

    name: str = "judge"
    stats: dict = field(default_factory=dict)


class ApiArenaJudge(ArenaJudge):
    """Arena-Hard judge through an OpenAI-compatible API, prompts from `gift/assets/arena_hard/`."""

    def __init__(self, client: ChatClient, prompts: dict, temperature: float = 0.0, max_tokens: int = 16000) -> None:
        super().__init__(name=f"api:{client.model}")
        self.client, self.prompts = client, prompts
        self.temperature, self.max_tokens = temperature, max_tokens

    def judge(self, items: Sequence[tuple[str, str, str, str]], progress: bool = True) -> list[str | None]:
        """items: (category, question, answer_a, answer_b)."""
        from tqdm.auto import tqdm

        out: list[str | None] = []
        for category, question, a, b in tqdm(list(items), desc="arena judge", disable=not progress):
            system = self.prompts["system"].get(category) or self.prompts["system"].get("default")
            if system is None:
                raise ValueError(f"judge prompts have no system prompt for category {category!r} nor 'default'")
            user = (self.prompts["template"].replace("{QUESTION}", question).replace("{ANSWER_A}", a)
                    .replace("{ANSWER_B}", b))
            response = self.client.complete([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                            temperature=self.temperature, max_tokens=self.max_tokens)
            out.append(message_text(response))
        return out


class RewardModelArenaJudge(ArenaJudge):
    """Offline Arena-Hard judge: the reward-score difference d = s(B) - s(A) mapped to a verdict string.

    |d| < tie_margin: A=B; tie_margin <= |d| < strong_margin: a plain win; |d| >= strong_margin: a strong win.
    """

    def __init__(self, scorer: Any, name: str = "reward-model", tie_margin: float = 0.1,
                 strong_margin: float = 1.0) -> None:
        super().__init__(name=name)
        if not 0 <= tie_margin < strong_margin:
            raise ValueError("need 0 <= tie_margin < strong_margin")
        self.scorer, self.tie_margin, self.strong_margin = scorer, tie_margin, strong_margin

    def verdict_of(self, d: float) -> str | None:
        if not math.isfinite(d):
            return None
        if abs(d) < self.tie_margin:
            return "A=B"
        strong = abs(d) >= self.strong_margin
        if d > 0:
            return "B>>A" if strong else "B>A"
        return "A>>B" if strong else "A>B"

    def judge(self, items: Sequence[tuple[str, str, str, str]], progress: bool = True) -> list[str | None]:
        items = list(items)
        prompts = [[{"role": "user", "content": q}] for _, q, _, _ in items]
        s_a = self.scorer(prompts, [a for _, _, a, _ in items])
        s_b = self.scorer(prompts, [b for _, _, _, b in items])
        out: list[str | None] = []
        for a, b in zip(s_a, s_b, strict=True):
            v = self.verdict_of(b - a)
            out.append(None if v is None else f"score_A={a:.6g} score_B={b:.6g}\n\nMy final verdict is: [[{v}]]")
        return out


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


def add_judged_generation_args(parser, max_new_tokens: int, limit_help: str) -> None:
    """The arguments AlpacaEval and Arena-Hard share: judge key and cache, generation settings, limits."""
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    parser.add_argument("--cache", help="judgment cache (JSONL; default beside --out)")
    parser.add_argument("--limit", type=int, help=limit_help)
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 means greedy decoding")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
