"""RLVR pass@1: aggregation over k samples, greedy, stderr, the CLI's result JSON and samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gift.evals.rlvr import pass_at_k as rlvr
from gift.evals.rlvr.pass_at_k import evaluate_pass_at_1
from gift.files import read_jsonl
from gift.rewards import verifiable_reward


def _examples(n=3):
    return [{"id": f"e{i}", "prompt": [{"role": "user", "content": f"q{i}"}], "ground_truth": str(i),
             "reward": "gsm8k"} for i in range(n)]


def test_pass_at_1_is_the_mean_over_samples_then_problems(monkeypatch):
    scripted = {  # per problem: k=4 sampled completions
        "q0": ["#### 0", "#### 0", "#### 1", "garbage"],
        "q1": ["#### 1", "#### 1", "#### 1", "#### 1"],
        "q2": ["#### 5", "#### 5", "#### 5", "#### 5"],
    }

    def fake_generate(model, tok, prompts, n=1, greedy=False, **kw):  # stands in for a model's sampler
        if greedy:
            return [[f"#### {p[0]['content'][1:]}"] * n for p in prompts]
        return [scripted[p[0]["content"]][:n] for p in prompts]

    monkeypatch.setattr(rlvr, "generate", fake_generate)
    res = evaluate_pass_at_1(None, None, _examples(), k=4, greedy=True, progress=False)
    per_problem = np.array([0.5, 1.0, 0.0])
    assert res["pass@1"] == pytest.approx(per_problem.mean())
    assert res["pass@1_stderr"] == pytest.approx(per_problem.std(ddof=1) / math.sqrt(3))
    assert res["pass@1_greedy"] == 1.0 and res["pass@1_greedy_stderr"] == 0.0
    assert res["n"] == 3 and res["k"] == 4 and res["unparsed"] == 1
    assert res["pass@k"] == pytest.approx(2 / 3)  # a correct sample among the 4 for two of the three problems
    assert res["samples"][0]["rewards"] == [1.0, 1.0, 0.0, 0.0]


def test_aime_is_scored_with_the_answer_line_rule_of_the_prepared_examples(tmp_path, monkeypatch):
    from gift.data.prepare import prepare

    prepare("aime2024", "synthetic", tmp_path / "aime", limits={"test": 2})
    examples = read_jsonl(tmp_path / "aime" / "test.jsonl")
    assert {e["reward"] for e in examples} == {"dapo"}
    truths = {e["prompt"][-1]["content"]: e["ground_truth"] for e in examples}

    def fake_generate(model, tok, prompts, n=1, greedy=False, **kw):  # stands in for a model's sampler
        t = [truths[p[-1]["content"]] for p in prompts]
        if greedy:  # verl's rule reads only the 'Answer:' line: a boxed answer alone scores 0
            return [[f"so $\\boxed{{{x}}}$."] for x in t]
        return [[f"Answer: {x}", f"Answer: {x}.0", f"Answer: {x}\n" + "x" * 300, f"work\nAnswer: ${x}$"] for x in t]

    monkeypatch.setattr(rlvr, "generate", fake_generate)
    res = evaluate_pass_at_1(None, None, examples, k=4, greedy=True, progress=False)
    assert [s["rewards"] for s in res["samples"]] == [[1.0, 0.0, 0.0, 1.0]] * 2
    assert res["pass@1"] == 0.5 and res["pass@1_greedy"] == 0.0
    assert res["unparsed"] == 2 and res["greedy_unparsed"] == 2  # the cut-off Answer lines; the boxed answers
    # the same completions under the math-verify alternative, as a config naming dapo_verify would score them
    for e in examples:
        e["reward"] = "dapo_verify"
    res = evaluate_pass_at_1(None, None, examples, k=4, greedy=True, progress=False)
    assert res["pass@1_greedy"] == 1.0 and [s["rewards"] for s in res["samples"]] == [[1.0, 1.0, 1.0, 1.0]] * 2


def test_real_model_results_agree_with_rescoring_the_samples(tiny_model_dir, synthetic_data):
    from gift.generation import load_model

    model, tok = load_model(tiny_model_dir)
    examples = read_jsonl(synthetic_data["gsm8k"] / "test.jsonl")[:4]
    res = evaluate_pass_at_1(model, tok, examples, k=2, max_new_tokens=8, greedy=True, progress=False)
    rescored = [np.mean([verifiable_reward("gsm8k", c, s["ground_truth"]) for c in s["completions"]])
                for s in res["samples"]]
    assert res["pass@1"] == pytest.approx(np.mean(rescored))
    assert all(len(s["completions"]) == 2 and "greedy" in s for s in res["samples"])


def test_non_verifiable_examples_are_rejected():
    ex = _examples(1)
    ex[0]["reward"] = "reward_model"
    with pytest.raises(ValueError, match="not verifiable"):
        evaluate_pass_at_1(None, None, ex, progress=False)
    with pytest.raises(ValueError, match="no examples"):
        evaluate_pass_at_1(None, None, [], progress=False)


def test_cli_writes_the_eval_result_json_and_samples(tiny_model_dir, synthetic_data, tmp_path, capsys):
    out = tmp_path / "evals" / "tiny-s0" / "rlvr_aime2024.json"
    rc = rlvr.cli(["--model", str(tiny_model_dir), "--data", str(synthetic_data["aime2024"] / "test.jsonl"),
                   "--out", str(out), "--k", "2", "--max-new-tokens", "6", "--limit", "3"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["model"] == "tiny-s0" and result["eval"] == "rlvr"
    assert set(result["metrics"]) == {"pass@1", "pass@1_greedy", "mean@k", "pass@k"}
    m = result["metrics"]["pass@1"]
    assert m["n"] == 3 and m["task"] == "aime2024" and 0.0 <= m["value"] <= 100.0
    assert {"created", "git_commit", "versions", "argv"} <= set(result["provenance"])
    samples = read_jsonl(out.with_name("rlvr_aime2024.samples.jsonl"))
    assert len(samples) == 3 and all(len(s["completions"]) == 2 for s in samples)
    # The headline pass@1 is verl's validation: the greedy answers' mean reward; mean@k the sampled ones'.
    assert m["protocol"] == "greedy"
    assert m["value"] == pytest.approx(100 * np.mean([s["greedy_reward"] for s in samples]))
    assert result["metrics"]["mean@k"]["value"] == pytest.approx(100 * np.mean([np.mean(s["rewards"])
                                                                               for s in samples]))
    assert result["metrics"]["mean@k"]["metric"] == "mean@2" and result["metrics"]["mean@k"]["temperature"] == 1.0
    # Per-item records beside the result, for comparing two models item by item: id, answers, correct (the
    # headline's answers: the greedy one)
    items = read_jsonl(out.with_name("rlvr_aime2024.eval_items.jsonl"))
    assert result["details"]["items_file"] == "rlvr_aime2024.eval_items.jsonl"
    assert [(i["id"], i["samples"], i["correct"]) for i in items] == [(s["id"], 1, s["greedy_reward"]) for s in samples]
    assert m["value"] == pytest.approx(100 * np.mean([i["correct"] / i["samples"] for i in items]))


def test_cli_without_greedy_reports_the_sampled_mean_as_pass_at_1(tiny_model_dir, synthetic_data, tmp_path):
    out = tmp_path / "rlvr_gsm8k.json"
    rc = rlvr.cli(["--model", str(tiny_model_dir), "--data", str(synthetic_data["gsm8k"] / "test.jsonl"),
                   "--out", str(out), "--k", "2", "--max-new-tokens", "6", "--limit", "2", "--no-greedy"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert "pass@1_greedy" not in result["metrics"]
    assert result["metrics"]["pass@1"]["protocol"] == "sampled mean@k"
    assert result["metrics"]["pass@1"]["value"] == result["metrics"]["mean@k"]["value"]
    samples = read_jsonl(out.with_name("rlvr_gsm8k.samples.jsonl"))
    items = read_jsonl(out.with_name("rlvr_gsm8k.eval_items.jsonl"))
    assert [(i["samples"], i["correct"]) for i in items] == [(2, sum(s["rewards"])) for s in samples]


def test_greedy_only_evaluation_generates_no_samples(monkeypatch):
    calls = []

    def fake_generate(model, tok, prompts, n=1, greedy=False, **kw):
        calls.append(greedy)
        return [[f"#### {p[0]['content'][1:]}"] * n for p in prompts]

    monkeypatch.setattr(rlvr, "generate", fake_generate)
    res = evaluate_pass_at_1(None, None, _examples(), k=0, greedy=True, progress=False)
    assert calls == [True] and res["pass@1_greedy"] == 1.0 and "pass@1" not in res
    with pytest.raises(ValueError, match="k must be"):
        evaluate_pass_at_1(None, None, _examples(), k=0, greedy=False, progress=False)


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys, tiny_model_dir):
    assert rlvr.cli(["--model", str(tmp_path / "none"), "--data", "x.jsonl", "--out", str(tmp_path / "o.json")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty.jsonl").write_text("")
    assert rlvr.cli(["--model", str(tiny_model_dir), "--data", str(tmp_path / "empty.jsonl"),
                     "--out", str(tmp_path / "o.json")]) == 2
    assert "no examples" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
