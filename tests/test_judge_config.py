"""Judges as config choices: a judge model the server does not know stops the job at once, with a message naming
the judge and its config key; the official Arena-Hard prompts load from fetched files (never run) and every
result records which prompts and which judge scored it."""

from __future__ import annotations

import argparse
import hashlib
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from gift.evals import judge_client, judges
from gift.evals.alpaca_eval import evaluate as alpaca
from gift.evals.alpaca_eval import judges as alpaca_judges
from gift.evals.arena_hard import evaluate as arena_hard
from gift.evals.arena_hard import judges as arena_judges
from gift.evals.arena_hard import official as arena_hard_official
from tests.loopback import serve_on_loopback

NOT_FOUND = {"error": {"message": "The model `gpt-4-1106-preview` does not exist or you do not have access to it.",
                       "type": "invalid_request_error", "param": None, "code": "model_not_found"}}


class _Server(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that serves `served` models and answers model-not-found for the others."""

    served: set = set()
    list_models = True
    posts: list = []

    def _send(self, code: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path.endswith("/models") and type(self).list_models:
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in sorted(self.served)]})
        else:
            self._send(404, {"error": {"message": "no such route"}})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posts.append(body)
        if body["model"] not in self.served:
            self._send(404, NOT_FOUND)
        else:
            self._send(200, {"choices": [{"message": {"content": "My final verdict is [[A=B]]"}}]})

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Server.served, _Server.list_models, _Server.posts = {"gpt-4.1"}, True, []
    with serve_on_loopback(_Server) as url:
        yield url


def _alpaca_args(tmp_path: Path, judge: str) -> list[str]:
    return ["--model", str(tmp_path / "no-model"), "--model-id", "m", "--instructions", "synthetic:6:0",
            "--judge", judge, "--out", str(tmp_path / "alpaca_eval.json"), "--no-progress"]


def test_a_retired_judge_stops_the_job_before_generation_naming_judge_and_config_key(server, tmp_path, capsys):
    rc = alpaca.cli(_alpaca_args(tmp_path, f"api:gpt-4-1106-preview@{server}"))
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "api:gpt-4-1106-preview" in err and "evaluation.alpaca_eval.judge" in err
    assert _Server.posts == []  # found out from the free model list: nothing generated, nothing paid


def test_cached_judgments_of_a_retired_judge_still_rescore(server, tmp_path):
    spec = judges.parse_judge(f"api:gpt-4-1106-preview@{server}")
    cache = tmp_path / "cache.jsonl"
    client = judges.make_client(spec, cache, config_key=alpaca.JUDGE_CONFIG_KEY)
    messages = [{"role": "user", "content": "x"}]
    key = judge_client.JudgmentCache.key({"base_url": client.base_url, "model": client.model, "messages": messages})
    client.cache.put(key, {"choices": [{"message": {"content": "m"}}]})
    again = judges.make_client(spec, cache, config_key=alpaca.JUDGE_CONFIG_KEY)
    assert again.check_model() is False  # not listed, but judgments are cached: no stop yet
    assert again.complete(messages) == {"choices": [{"message": {"content": "m"}}]} and _Server.posts == []
    with pytest.raises(judge_client.JudgeModelNotFound):  # the first uncached request stops it
        again.complete([{"role": "user", "content": "y"}])


def test_without_a_model_list_the_first_request_stops_the_job(server, tmp_path):
    _Server.list_models = False
    spec = judges.parse_judge(f"api:gpt-4-1106-preview@{server}")
    client = judges.make_client(spec, tmp_path / "cache.jsonl", config_key=alpaca.JUDGE_CONFIG_KEY, backoff_s=0.0)
    assert client.check_model() is None  # no list: the first request decides
    judge = alpaca_judges.ApiAlpacaJudge(client)
    with pytest.raises(judge_client.JudgeModelNotFound, match=r"evaluation\.alpaca_eval\.judge") as info:
        judge.annotate([f"i{k}" for k in range(5)], ["a"] * 5, ["b"] * 5, progress=False)
    assert "gpt-4-1106-preview" in str(info.value) and "does not exist" in str(info.value)
    assert len(_Server.posts) == 1  # stopped at the first request, no retries


def test_a_whole_arena_hard_job_stops_at_the_first_request(server, tmp_path):
    _Server.list_models = False
    args = argparse.Namespace(
        model=str(tmp_path / "m"), model_id="m", questions="synthetic:3:2:0", baseline_answers=[], baselines=None,
        judge=f"api:gpt-4-1106-preview@{server}", judge_prompts=str(arena_hard.JUDGE_PROMPTS),
        out=str(tmp_path / "arena_hard.json"), tokenizer="whitespace", api_key_env="GIFT_TEST_NO_SUCH_KEY",
        cache=None, limit=None, max_new_tokens=8, temperature=0.0, batch_size=2, bootstrap=5, tie_margin=0.1,
        strong_margin=1.0, seed=0, no_progress=True, argv=[])
    with pytest.raises(judge_client.JudgeModelNotFound, match=r"evaluation\.arena_hard\.judge"):
        arena_hard.run(args, generator=lambda p, kw: ["answer"] * len(p), count_tokens=lambda t: len(t.split()))
    assert len(_Server.posts) == 1 and not Path(args.out).exists()


def test_a_served_judge_passes_the_check_and_the_result_records_prompts_and_paper_judge(server, tmp_path):
    args = argparse.Namespace(
        model=str(tmp_path / "m"), model_id="m", questions="synthetic:3:2:0", baseline_answers=[], baselines=None,
        judge=f"api:gpt-4.1@{server}", judge_prompts=str(arena_hard.JUDGE_PROMPTS), paper_judge="api:gpt-4.1",
        out=str(tmp_path / "arena_hard.json"), tokenizer="whitespace", api_key_env="GIFT_TEST_NO_SUCH_KEY",
        cache=None, limit=None, max_new_tokens=8, temperature=0.0, batch_size=2, bootstrap=5, tie_margin=0.1,
        strong_margin=1.0, seed=0, no_progress=True, argv=[])
    assert arena_hard.run(args, generator=lambda p, kw: ["answer"] * len(p), count_tokens=lambda t: len(t.split())) == 0
    details = json.loads(Path(args.out).read_text())["details"]
    rec = details["judge_prompts"]
    assert rec["source"] == "suite"
    assert rec["files"]["judge_prompts.yaml"] == hashlib.sha256(arena_hard.JUDGE_PROMPTS.read_bytes()).hexdigest()
    # the judge at a local URL is not the paper's gpt-4.1 at OpenAI
    assert details["paper_judge"] == "api:gpt-4.1" and details["judge_is_paper_judge"] is False
    assert judges.same_judge("api:gpt-4.1", "api:gpt-4.1")
    assert not judges.same_judge("api:weighted_alpaca_eval_gpt4_turbo", "api:weighted_alpaca_eval_gpt-4o-mini-2024-07-18")
    assert judges.same_judge("api:weighted_alpaca_eval_gpt4_turbo", "api:gpt-4-1106-preview")


# ---- the official Arena-Hard prompts from fetched files ----------------------------------------------------

JUDGE_UTILS = '''
import os
OG_PROMPT = "Judge the hard prompt. " + "Verdict: [[A>>B]] .. [[B>>A]]."
open(os.path.join(os.path.dirname(__file__), "EXECUTED"), "w").write("ran")
JUDGE_SETTINGS = {
    "hard_prompt": {"baseline": "o3-mini-2025-01-31", "system_prompt": OG_PROMPT},
    "coding": {"baseline": "o3-mini-2025-01-31", "system_prompt": OG_PROMPT},
    "creative_writing": {"baseline": "gemini-2.0-flash-001", "system_prompt": "Judge the creative piece."},
}
'''
JUDGE_CONFIG = '''judge_model: gpt-4.1
temperature: 0.0
max_tokens: 16000
regex_patterns:
  - \\[\\[([AB<>=]+)\\]\\]
prompt_template: "<|User Prompt|>\\n{QUESTION}\\n\\nA: {ANSWER_A}\\nB: {ANSWER_B}"
'''


def _fetched(tmp_path: Path) -> Path:
    d = tmp_path / "judge_prompts"
    d.mkdir()
    (d / "judge_utils.py").write_text(JUDGE_UTILS)
    (d / "arena-hard-v2.0.yaml").write_text(JUDGE_CONFIG)
    return d


def test_official_prompts_are_read_from_the_fetched_files_without_running_them(tmp_path):
    d = _fetched(tmp_path)
    prompts = arena_hard_official.load_official_prompts(d, verify=False)
    assert not (d / "EXECUTED").exists()  # read with ast, never imported
    assert prompts["system"] == {"hard_prompt": "Judge the hard prompt. Verdict: [[A>>B]] .. [[B>>A]].",
                                 "creative_writing": "Judge the creative piece."}
    assert prompts["template"].startswith("<|User Prompt|>\n{QUESTION}")
    assert prompts["settings"] == {"judge_model": "gpt-4.1", "temperature": 0.0, "max_tokens": 16000,
                                   "regex_patterns": ["\\[\\[([AB<>=]+)\\]\\]"]}
    prov = prompts["provenance"]
    assert prov["commit"] == arena_hard_official.ARENA_HARD_COMMIT
    assert prov["files"]["judge_utils.py"] == hashlib.sha256(JUDGE_UTILS.encode()).hexdigest()
    core = {"template": prompts["template"], "system": prompts["system"]}
    assert prov["sha256"] == hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def test_fetched_files_that_are_not_the_pinned_commits_are_refused(tmp_path):
    d = _fetched(tmp_path)
    with pytest.raises(ValueError, match="judge_utils.py: sha256 .* is not that of utils/judge_utils.py"):
        arena_hard_official.load_judge_prompts(d)  # a directory means the official prompts, verified
    with pytest.raises(FileNotFoundError, match="gift fetch"):
        arena_hard_official.load_judge_prompts(tmp_path / "absent_dir")


def test_the_api_judge_sends_the_official_prompts_and_settings(server, tmp_path):
    d = _fetched(tmp_path)
    prompts = arena_hard_official.load_official_prompts(d, verify=False)
    client = judges.make_client(judges.parse_judge(f"api:gpt-4.1@{server}"), tmp_path / "c.jsonl")
    judge = arena_judges.ApiArenaJudge(client, prompts, temperature=prompts["settings"]["temperature"],
                                 max_tokens=prompts["settings"]["max_tokens"])
    judge.judge([("hard_prompt", "Q?", "ans-a", "ans-b")], progress=False)
    sent = _Server.posts[0]
    assert sent["messages"][0]["content"] == prompts["system"]["hard_prompt"]
    assert sent["messages"][1]["content"] == "<|User Prompt|>\nQ?\n\nA: ans-a\nB: ans-b"
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 16000


def test_fetch_manifest_lists_the_pinned_files_for_the_paper_config():
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "paper.yaml").read_text())
    section = cfg["evaluation"]["arena_hard"]
    items = arena_hard_official.fetch_manifest(section)
    by_dest = {i.dest: i for i in items}
    commit = arena_hard_official.ARENA_HARD_COMMIT
    prompts_dir = Path(section["judge_prompts"])
    assert by_dest[str(prompts_dir / "judge_utils.py")].url.endswith(f"/{commit}/utils/judge_utils.py")
    assert by_dest[str(prompts_dir / "arena-hard-v2.0.yaml")].url.endswith(f"/{commit}/config/arena-hard-v2.0.yaml")
    assert by_dest[section["questions"]].url.endswith(f"/{commit}/data/arena-hard-v2.0/question.jsonl")
    assert all(d in by_dest for d in section["baseline_answers"])
    assert all(len(i.sha256) == 64 for i in items if i.sha256 is not None)
    # an offline config (the suite's YAML, a synthetic set) needs nothing
    assert arena_hard_official.fetch_manifest({"questions": "synthetic:4:2", "judge_prompts": "x/judge_prompts.yaml"}) == []


def test_alpaca_fetch_manifest_names_the_pinned_instructions_and_df_gamed():
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "paper.yaml").read_text())
    section = cfg["evaluation"]["alpaca_eval"]
    by_dest = {i.dest: i for i in alpaca.fetch_manifest(section)}
    ins = by_dest[section["instructions"]]
    assert ins.url.endswith(f"/{alpaca.ALPACA_EVAL_COMMIT}/results/gpt4_1106_preview/model_outputs.json")
    assert len(ins.sha256) == 64
    assert by_dest[section["df_gamed"]].url.endswith("/df_gamed.csv")
    assert alpaca.fetch_manifest({"instructions": "synthetic:8"}) == []
