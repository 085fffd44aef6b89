"""Judges: verdict and preference parsing of untrusted output, the cached retrying API client, reward-model judges."""

from __future__ import annotations

import json
import math
import urllib.error
from http.server import BaseHTTPRequestHandler

import pytest

from gift.evals import judge_client, judges
from gift.evals.alpaca_eval import judges as alpaca_judges
from gift.evals.arena_hard import judges as arena_judges
from tests.loopback import serve_on_loopback


def build_tiny_reward_model(path, seed: int = 0) -> str:
    """A randomly initialised Qwen2ForSequenceClassification with a small trained tokenizer, saved at `path`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    from gift.tiny.build import train_tokenizer

    texts = ["Reverse the word apple.", "elppa", "Write a short poem about the word river.", "river, river."] * 20
    tok = train_tokenizer(texts, vocab_size=300)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, num_labels=1,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    model = Qwen2ForSequenceClassification(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "rm")


# ---- parsing untrusted judge output -----------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("My final verdict is: [[A>>B]]", "A>>B"),
    ("blah [[B>A]] blah", "B>A"),
    ("[[A=B]]", "A=B"),
    ("[[ B >> A ]]", "B>>A"),
    ("[[A<B]]", "B>A"),
    ("first [[A>B]] then again [[A>B]]", "A>B"),
    ("conflicting [[A>B]] and [[B>A]]", None),
    ("no verdict here", None),
    ("[[C]]", None),
    ("[[A>>>B]]", None),
    ("", None),
    (None, None),
    (42, None),
])
def test_verdict_parsing_is_defensive(text, expected):
    assert arena_judges.parse_verdict(text) == expected


def _logprob_response(lp_m: float | None, lp_big_m: float | None, text: str = "m") -> dict:
    top = []
    if lp_m is not None:
        top.append({"token": "m", "logprob": lp_m})
    if lp_big_m is not None:
        top.append({"token": "M", "logprob": lp_big_m})
    top.append({"token": "The", "logprob": -9.0})
    return {"choices": [{"message": {"content": text}, "logprobs": {"content": [{"token": text, "logprob": -0.1,
                                                                                 "top_logprobs": top}]}}]}


def test_weighted_preference_from_logprobs():
    # p(m) = e^-0.2 / (e^-0.2 + e^-1.9); output_1 ('m') is the reference when not swapped.
    p_m = math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.9))
    a = alpaca_judges.parse_alpaca_response(_logprob_response(-0.2, -1.9), swapped=False)
    assert a.preference == pytest.approx(2 - p_m)
    b = alpaca_judges.parse_alpaca_response(_logprob_response(-0.2, -1.9), swapped=True)
    assert b.preference == pytest.approx(1 + p_m)
    only_big = alpaca_judges.parse_alpaca_response(_logprob_response(None, -0.01, "M"), swapped=False)
    assert only_big.preference == pytest.approx(2.0)


@pytest.mark.parametrize("response", [
    {"choices": [{"message": {"content": "I think the first"}}]},
    {"choices": []},
    {"error": "overloaded"},
    "not even a dict",
    None,
])
def test_unparsable_alpaca_judgment_is_missing_not_a_crash(response):
    a = alpaca_judges.parse_alpaca_response(response, swapped=False)
    assert a.preference is None and a.error


def test_text_fallback_when_logprobs_are_absent():
    a = alpaca_judges.parse_alpaca_response({"choices": [{"message": {"content": " M "}}]}, swapped=False)
    assert a.preference == 2.0


# ---- API client: retries, cache, keys ---------------------------------------------------------------

def test_client_retries_with_backoff_then_caches(tmp_path):
    calls, sleeps = [], []

    def post(url, payload, key, timeout):
        calls.append(payload)
        if len(calls) <= 2:
            raise urllib.error.HTTPError(url, 429, "rate limited", {}, None)
        return {"choices": [{"message": {"content": "[[A=B]]"}}]}

    cache = tmp_path / "cache.jsonl"
    c = judge_client.ChatClient("judge", "http://x/v1", cache_path=cache, post=post, sleep=sleeps.append, backoff_s=1.0)
    r = c.complete([{"role": "user", "content": "q"}], temperature=0)
    assert judge_client.message_text(r) == "[[A=B]]"
    assert len(calls) == 3 and len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.9
    # a new client (a re-run) with the same cache pays for nothing
    c2 = judge_client.ChatClient("judge", "http://x/v1", cache_path=cache,
                           post=lambda *a: pytest.fail("request sent despite the cache"))
    assert c2.complete([{"role": "user", "content": "q"}], temperature=0) == r
    assert c2.stats()["requests_sent"] == 0 and c2.stats()["cache_hits"] == 1
    # a different request is not served from the cache
    with pytest.raises(judge_client.JudgeError):
        c2.post = lambda *a: (_ for _ in ()).throw(urllib.error.HTTPError("u", 401, "bad key", {}, None))
        c2.complete([{"role": "user", "content": "other"}], temperature=0)


def test_client_gives_up_after_retries_and_torn_cache_lines_are_skipped(tmp_path):
    cache = tmp_path / "cache.jsonl"
    cache.write_text('{"key": "k", "response": {"a": 1}}\n{"key": "torn', encoding="utf-8")

    def post(*a):
        raise urllib.error.URLError("connection refused")

    c = judge_client.ChatClient("judge", "http://x/v1", cache_path=cache, post=post, sleep=lambda s: None, max_retries=3)
    assert c.cache.skipped_lines == 1 and c.cache.get("k") == {"a": 1}
    with pytest.raises(judge_client.JudgeError, match="3 retries"):
        c.complete([{"role": "user", "content": "q"}])
    assert c.stats()["requests_sent"] == 4


def test_missing_api_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("GIFT_TEST_KEY", raising=False)
    spec = judges.parse_judge("api:weighted_alpaca_eval_gpt4_turbo", api_key_env="GIFT_TEST_KEY")
    with pytest.raises(judge_client.JudgeError, match="GIFT_TEST_KEY"):
        judges.require_api_key(spec)
    local = judges.parse_judge("api:my-judge@http://127.0.0.1:8000/v1", api_key_env="GIFT_TEST_KEY")
    assert local.base_url == "http://127.0.0.1:8000/v1" and judges.require_api_key(local) == "EMPTY"
    with pytest.raises(ValueError, match="judge kind"):
        judges.parse_judge("gpt4:x")


class _FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint: prefers the longer output via logprobs, or gives a verdict."""

    requests: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        user = body["messages"][-1]["content"]
        if body.get("logprobs"):
            out1 = user.split('"model_identifier": "m",')[1].split('"output": """')[1].split('"""')[0]
            out2 = user.split('"model_identifier": "M",')[1].split('"output": """')[1].split('"""')[0]
            first_better = len(out1) > len(out2)
            resp = _logprob_response(-0.1 if first_better else -2.5, -2.5 if first_better else -0.1)
        else:
            resp = {"choices": [{"message": {"content": "Reasoning... My final verdict is [[B>A]]"}}]}
        data = json.dumps(resp).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_server():
    _FakeOpenAI.requests = []
    with serve_on_loopback(_FakeOpenAI) as url:
        yield url


def test_api_alpaca_judge_over_real_http_with_the_official_prompt(fake_server, tmp_path):
    spec = judges.parse_judge(f"api:local-judge@{fake_server}")
    client = judges.make_client(spec, tmp_path / "c.jsonl")
    judge = alpaca_judges.ApiAlpacaJudge(client)
    ins = [f"instruction {i}" for i in range(8)]
    refs = ["short"] * 8
    outs = ["a much longer answer"] * 4 + ["s"] * 4
    ann = judge.annotate(ins, refs, outs, progress=False)
    assert any(a.swapped for a in ann) and not all(a.swapped for a in ann)
    p_long = math.exp(-0.1) / (math.exp(-0.1) + math.exp(-2.5))
    for a in ann[:4]:
        assert a.preference == pytest.approx(1 + p_long)
    for a in ann[4:]:
        assert a.preference == pytest.approx(2 - p_long)
    sent = _FakeOpenAI.requests[0]
    assert sent["max_tokens"] == 1 and sent["top_logprobs"] == 5 and sent["model"] == "local-judge"
    assert sent["messages"][0]["role"] == "system" and "leaderboard" in sent["messages"][1]["content"]
    # re-run: everything comes from the cache
    n = len(_FakeOpenAI.requests)
    alpaca_judges.ApiAlpacaJudge(judges.make_client(spec, tmp_path / "c.jsonl")).annotate(ins, refs, outs, progress=False)
    assert len(_FakeOpenAI.requests) == n


def test_api_arena_judge_over_real_http(fake_server, tmp_path):
    prompts = arena_judges.load_arena_prompts(judges_prompts_path())
    client = judges.make_client(judges.parse_judge(f"api:j@{fake_server}"), tmp_path / "c.jsonl")
    raws = arena_judges.ApiArenaJudge(client, prompts).judge([("hard_prompt", "q", "a", "b"),
                                                        ("creative_writing", "q2", "a", "b")], progress=False)
    assert [arena_judges.parse_verdict(r) for r in raws] == ["B>A", "B>A"]
    systems = [r["messages"][0]["content"] for r in _FakeOpenAI.requests]
    assert systems[0] == prompts["system"]["hard_prompt"] and systems[1] == prompts["system"]["creative_writing"]
    assert "<|The Start of Assistant A's Answer|>\na\n" in _FakeOpenAI.requests[0]["messages"][1]["content"]


def judges_prompts_path():
    from gift.evals.arena_hard.evaluate import JUDGE_PROMPTS

    return JUDGE_PROMPTS


# ---- reward-model judges ----------------------------------------------------------------------------

def test_reward_model_alpaca_judge_is_sigmoid_of_score_difference(tiny_rm):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    scorer = judges.reward_model_scorer(tiny_rm)
    judge = alpaca_judges.RewardModelAlpacaJudge(scorer)
    ins = ["Reverse the word apple.", "Write a short poem about the word river."]
    refs = ["elppa", "river"]
    outs = ["apple apple", "river, river, river."]
    ann = judge.annotate(ins, refs, outs, progress=False)
    # independent forward pass of the saved model
    tok = AutoTokenizer.from_pretrained(tiny_rm)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_rm).eval()

    def score(i, r):
        text = tok.apply_chat_template([{"role": "user", "content": i}, {"role": "assistant", "content": r}],
                                       tokenize=False)
        with torch.no_grad():
            return model(**tok(text, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item()

    for a, i, r, o in zip(ann, ins, refs, outs, strict=True):
        d = score(i, o) - score(i, r)
        assert a.preference == pytest.approx(1 + 1 / (1 + math.exp(-d)), abs=1e-5)


def test_reward_model_arena_verdict_thresholds():
    j = arena_judges.RewardModelArenaJudge(scorer=None, tie_margin=0.1, strong_margin=1.0)
    assert [j.verdict_of(d) for d in (0.05, -0.05, 0.5, -0.5, 1.5, -1.5, float("nan"))] == \
        ["A=B", "A=B", "B>A", "A>B", "B>>A", "A>>B", None]
    with pytest.raises(ValueError):
        arena_judges.RewardModelArenaJudge(scorer=None, tie_margin=1.0, strong_margin=0.5)


def test_reward_model_arena_judge_emits_parsable_verdicts(tiny_rm):
    j = arena_judges.RewardModelArenaJudge(judges.reward_model_scorer(tiny_rm), tie_margin=0.0, strong_margin=1e9)
    raws = j.judge([("hard_prompt", "Reverse the word apple.", "elppa", "apple"),
                    ("hard_prompt", "Reverse the word apple.", "apple", "elppa")], progress=False)
    verdicts = [arena_judges.parse_verdict(r) for r in raws]
    # swapping positions mirrors the verdict
    mirror = {"A>B": "B>A", "B>A": "A>B", "A=B": "A=B"}
    assert verdicts[1] == mirror[verdicts[0]]
