"""The judges' OpenAI-compatible chat client: an append-only on-disk cache of judgments, retries with
backoff, a clear error when the server does not know the judge's model, and defensive readers of responses."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"


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
