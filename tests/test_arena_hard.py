"""Arena-Hard v2 scoring against independent computations on synthetic battles with known strengths."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gift.evals.arena_hard import evaluate as ah
from gift.evals.arena_hard import scoring
from gift.evals.judges import sigmoid
from tests.test_judges import build_tiny_reward_model

VERDICT_OF_MODEL = {1.0: "B>A", 0.5: "A=B", 0.0: "A>B"}  # the model's result when it is B


def _game(model_is_a: bool, model_result: float, strong: bool = False, style=(0.0, 0.0, 0.0, 0.0),
          uid: str = "q") -> dict:
    v = VERDICT_OF_MODEL[model_result]
    if strong and model_result != 0.5:
        v = v.replace(">", ">>")
    if model_is_a:
        v = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}[v]
    return {"uid": uid, "category": "hard_prompt", "model_is_a": model_is_a, "verdict": v, "style": list(style)}


def test_strong_verdicts_weigh_three_and_mean_score_matches_hand_count():
    games = [_game(False, 1.0, strong=True, uid="q1"), _game(True, 0.0, uid="q1"),
             _game(False, 0.5, uid="q2"), _game(True, 1.0, uid="q2"),
             _game(False, 1.0, uid="q3"), {"uid": "q3", "category": "hard_prompt", "model_is_a": True,
                                           "verdict": None, "style": [0, 0, 0, 0]}]
    b = scoring.expand_battles(games)
    # model: strong win (3 x 1), loss (0), tie (0.5), win (1); q3 has an unparsed game and is dropped whole
    assert len(b) == 6 and b.n_dropped_questions == 1
    assert scoring.mean_score(b) == pytest.approx(100 * 4.5 / 6)
    # Bradley-Terry without style features is the same number (the MLE of one strength is the mean)
    assert scoring.bt_score(b, style_control=False) == pytest.approx(100 * 4.5 / 6, abs=1e-4)


def test_newton_logistic_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.choice([-1.0, 1.0], 500), rng.normal(size=(500, 2))])
    y = (rng.random(500) < 1 / (1 + np.exp(-(x @ np.array([0.7, -0.4, 1.1]))))).astype(float)
    y[:50] = 0.5  # ties as soft labels
    ours = scoring.fit_logistic(x, y)
    xx, yy, w = np.vstack([x, x]), np.r_[np.ones(500), np.zeros(500)], np.r_[y, 1 - y]
    ref = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-10, max_iter=10000).fit(xx, yy, sample_weight=w)
    np.testing.assert_allclose(ours, ref.coef_[0], atol=1e-4)


@pytest.mark.parametrize("result", [0.0, 1.0])
def test_a_model_that_loses_or_wins_every_battle_scores_0_or_100(result):
    rng = np.random.default_rng(0)
    games = [_game(i % 2 == 0, result, strong=i % 3 == 0, style=tuple(rng.normal(size=4)), uid=f"q{i // 2}")
             for i in range(40)]
    b = scoring.expand_battles(games).standardized()
    for style_control in (False, True):
        assert scoring.bt_score(b, style_control) == pytest.approx(100 * result, abs=1e-3)


def test_a_resample_that_length_separates_the_outcomes_gives_a_finite_score():
    # A bootstrap resample of a small tiny-config run: the length feature and the model's side together
    # predict every outcome, so the fitted strength is some -1e3 and a naive 1 / (1 + exp(-t)) overflows.
    rows = [(0.58, 1.0, 10), (0.90, 0.0, 46), (-1.21, 1.0, 36), (-0.89, 0.0, 4), (0.1, 1.0, 0)]
    length = np.concatenate([[v] * n for v, _, n in rows])
    y = np.concatenate([[o] * n for _, o, n in rows])
    b = scoring.Battles(y, np.column_stack([length, np.zeros((len(y), 3))]))
    score = scoring.bt_score(b, style_control=True)
    assert math.isfinite(score) and 0.0 <= score <= 100.0
    assert scoring.bt_score(b, style_control=False) == pytest.approx(scoring.mean_score(b), abs=1e-3)
    t = np.array([-1e4, -800.0, -3.0, 0.0, 2.5, 800.0])
    ref = np.r_[0.0, 0.0, 1 / (1 + math.exp(3.0)), 0.5, 1 / (1 + math.exp(-2.5)), 1.0]
    np.testing.assert_allclose([sigmoid(v) for v in t], ref, atol=1e-300, rtol=1e-12)


def _simulate(theta: float, n_questions: int, length_bias: float, seed: int, model_longer: float) -> list[dict]:
    """Two games per question; the judge's log-odds for the model = theta + length_bias * length feature."""
    rng = np.random.default_rng(seed)
    games = []
    for q in range(n_questions):
        l_m = rng.integers(50, 150) * (1 + model_longer * rng.random())
        l_b = rng.integers(50, 150)
        meta_m = {"token_len": int(l_m), "header_count": 0, "list_count": 0, "bold_count": 0}
        meta_b = {"token_len": int(l_b), "header_count": 0, "list_count": 0, "bold_count": 0}
        style = scoring.style_features(meta_m, meta_b)
        for model_is_a in (False, True):
            p = 1 / (1 + math.exp(-(theta + length_bias * style[0])))
            result = 1.0 if rng.random() < p else 0.0
            games.append(_game(model_is_a, result, style=style, uid=f"q{q}"))
    return games


@pytest.mark.parametrize("theta", [-1.5, 0.0, 1.0])
def test_estimates_recover_known_strengths(theta):
    games = _simulate(theta, 600, length_bias=0.0, seed=1, model_longer=0.0)
    b = scoring.expand_battles(games).standardized()
    truth = 100 / (1 + math.exp(-theta))
    assert scoring.bt_score(b, style_control=False) == pytest.approx(truth, abs=4)
    assert scoring.bt_score(b, style_control=True) == pytest.approx(truth, abs=4)


def test_style_control_reads_the_planted_model_at_the_average_style_difference():
    # log-odds theta + bias * length feature; the model writes longer answers, so the plain mean score is
    # inflated; the style-controlled score is the planted win probability at the battles' mean length
    # feature (show_result.py centres the features), and a fit on uncentred features recovers theta itself
    theta, bias = -1.0, 4.0
    games = _simulate(theta, 1500, length_bias=bias, seed=2, model_longer=0.8)
    raw = scoring.expand_battles(games)
    mean_len = float(raw.style[:, 0].mean())
    assert mean_len > 0.1
    b = raw.standardized()
    plain, controlled = scoring.mean_score(raw), scoring.bt_score(b, style_control=True)
    at_mean = 100 / (1 + math.exp(-(theta + bias * mean_len)))
    assert controlled == pytest.approx(at_mean, abs=3.5)
    uncentred = scoring.Battles(raw.outcome, raw.style[:, :1] / raw.style[:, :1].std(ddof=1))  # markdown: all 0
    assert scoring.bt_score(uncentred, style_control=True) == pytest.approx(100 / (1 + math.exp(-theta)), abs=4)
    assert plain > scoring.bt_score(uncentred, style_control=True) + 5


def test_bootstrap_interval_brackets_the_median_and_scores_report_unparsed():
    games = _simulate(0.5, 200, 0.0, 3, 0.0)
    games[0]["verdict"] = None
    games[1]["verdict"] = None
    scores = scoring.score_games(games, n_bootstrap=100, seed=0)
    hp = scores["hard_prompt"]
    lo, hi = hp["style_control"]["ci"]
    assert lo < hp["style_control"]["value"] < hi and hp["n_unparsed"] == 2
    # both unparsed games belong to question q0: one question dropped, its two battles with it
    assert hp["n_games"] == 400 and hp["n_battles"] == 398 and hp["n_dropped_questions"] == 1
    games[2]["verdict"] = None  # one game of q1: q1 goes too
    assert scoring.score_games(games, n_bootstrap=5)["hard_prompt"]["n_battles"] == 396
    assert scores["creative_writing"]["mean_score"]["value"] is None  # no creative-writing games


def test_markdown_features():
    text = "# Title\n\nSome **bold** and __bold__.\n\n- a\n- b\n1. c\n```\n# not a header\n- not a list\n```\n"
    assert scoring.markdown_counts(text) == {"header_count": 1, "list_count": 3, "bold_count": 2}
    a = {"token_len": 29, "header_count": 3, "list_count": 0, "bold_count": 0}
    b = {"token_len": 11, "header_count": 0, "list_count": 0, "bold_count": 0}
    f = scoring.style_features(a, b)
    assert f[0] == pytest.approx(18 / 40)
    assert f[1] == pytest.approx((0.1 - 0) / (0.1 + 0 + 1))  # density 3 / (29 + 1)


def test_questions_are_validated(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(json.dumps({"uid": "1", "category": "math", "prompt": "x"}) + "\n")
    with pytest.raises(ValueError, match="category"):
        ah.load_questions(p)
    with pytest.raises(FileNotFoundError, match="question"):
        ah.load_questions(tmp_path / "none.jsonl")
    questions, answers = ah.synthetic_question_set(3, 2, seed=0)
    q = tmp_path / "syn.jsonl"
    q.write_text("".join(json.dumps(x) + "\n" for x in questions))
    assert len(ah.load_questions(q, limit=1)) == 2
    assert {a["model"] for a in answers} == {"synthetic-baseline-hard", "synthetic-baseline-creative"}
    assert ah.answer_text(answers[0]) and set(questions[0]) >= {"uid", "category", "subcategory", "prompt"}


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "rm")


def test_cli_run_end_to_end_with_reward_model_judge(tmp_path, tiny_rm):
    args = argparse.Namespace(
        model=str(tmp_path / "tiny-policy"), model_id="tiny-policy", questions="synthetic:6:4:0",
        baseline_answers=[], baselines=None, judge=f"reward-model:{tiny_rm}", judge_prompts=str(ah.JUDGE_PROMPTS),
        out=str(tmp_path / "evals" / "tiny-policy" / "arena_hard.json"), tokenizer="whitespace",
        api_key_env="GIFT_TEST_NO_SUCH_KEY", cache=None, limit=None, max_new_tokens=16, temperature=0.0,
        batch_size=4, bootstrap=20, tie_margin=0.0, strong_margin=0.05, seed=0, no_progress=True, argv=[])
    gen = lambda prompts, kw: ["## Answer\n- " + p[0]["content"] for p in prompts]  # noqa: E731
    assert ah.run(args, generator=gen, count_tokens=lambda t: len(t.split())) == 0
    doc = json.loads(Path(args.out).read_text())
    assert doc["eval"] == "arena_hard" and doc["details"]["tokenizer"] == "whitespace"
    for key in ("hard_prompts_style_control", "creative_writing"):
        m = doc["metrics"][key]
        assert 0 <= m["value"] <= 100 and len(m["ci"]) == 2
    judgments = [json.loads(line) for line in (tmp_path / "evals" / "tiny-policy" / "arena_hard.judgments.jsonl")
                 .read_text().splitlines()]
    assert len(judgments) == 20 and all(j["verdict"] is not None for j in judgments)
    assert {j["game"] for j in judgments} == {1, 2}
