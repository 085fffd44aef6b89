"""Arena-Hard scoring against an independent derivation of arena-hard-auto's show_result.py.

The derivation below is written in this test from the official code's formulas (github.com/lmarena/
arena-hard-auto, show_result.py, utils/math_utils.py and utils/add_markdown_info.py at commit
196f6b826783b3da7310e361a805fa36f0be83f3): judgment records with two games (game 1: A = baseline), a
question dropped when either game has no score, strong verdicts weighing 3, model-minus-baseline style
features with the density count / (token_len + 1), z-scored with torch's mean and sample std, a
Bradley-Terry fit by torch's L-BFGS on the one-hot model/baseline columns and the features, 100 bootstrap
resamples drawn by numpy's global generator (median and 5-95% quantiles), and the mean score bootstrapped
with pandas' groupby-sample (mean of the resample means). It imports nothing from the suite.

The synthetic set is the case where the two centrings disagree: the model's answers are systematically
shorter and barer than the baseline's and the judge likes length and markdown.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

SEED = 7
BASELINE = "baseline-model"
MODEL = "short-model"
WEIGHT = 3
LABEL_TO_SCORE = {"A>B": [1], "A>>B": [1] * WEIGHT, "A=B": [0.5], "A<<B": [0] * WEIGHT, "A<B": [0],
                  "B>A": [0], "B>>A": [0] * WEIGHT, "B=A": [0.5], "B<<A": [1] * WEIGHT, "B<A": [1]}


# ---- the synthetic judgments, in arena-hard-auto's file formats ------------------------------------

def _metadata(rng: np.random.Generator, length: int, markdown: float) -> dict:
    """An answer's metadata as add_markdown_info.py writes it (counts split by kind)."""
    h = rng.poisson(markdown * 2, 6)
    lo = rng.poisson(markdown * 4, 2)
    bo = rng.poisson(markdown * 3, 2)
    return {"token_len": int(length), "header_count": {f"h{i + 1}": int(h[i]) for i in range(6)},
            "list_count": {"ordered": int(lo[0]), "unordered": int(lo[1])},
            "bold_count": {"**": int(bo[0]), "__": int(bo[1])}}


def _label(rng: np.random.Generator, p_model: float, model_is_a: bool) -> str:
    """A verdict label for a game, drawn from the judge's probability that the model's answer is better."""
    u = rng.random()
    if u < 0.1:
        return "A=B"
    won = rng.random() < p_model
    strong = rng.random() < 0.4
    winner_a = won == model_is_a
    return ("A>>B" if strong else "A>B") if winner_a else ("B>>A" if strong else "B>A")


def synthetic_judgments(n_questions: int = 500, seed: int = 0, category: str = "hard_prompt",
                        unparsed_share: float = 0.03) -> tuple[list[dict], dict]:
    """Judgment records (model_judgment/*.jsonl rows) and the answers' metadata {model: {uid: metadata}}."""
    rng = np.random.default_rng(seed)
    records, meta = [], {MODEL: {}, BASELINE: {}}
    for i in range(n_questions):
        uid = f"q{i:04d}"
        l_base = int(rng.integers(400, 1500))
        l_model = int(l_base * rng.uniform(0.25, 0.7))  # systematically shorter
        meta[BASELINE][uid] = _metadata(rng, l_base, markdown=1.5)
        meta[MODEL][uid] = _metadata(rng, l_model, markdown=0.4)  # and barer
        length_feature = (l_model - l_base) / (l_model + l_base)
        p_model = 1 / (1 + math.exp(-(0.4 + 3.0 * length_feature)))  # better, but the judge likes length
        games = []
        for model_is_a in (False, True):  # game 1: A = baseline (gen_judgment.py's round 1)
            score = None if rng.random() < unparsed_share else _label(rng, p_model, model_is_a)
            games.append({"score": score})
        records.append({"uid": uid, "category": category, "model": MODEL, "baseline": BASELINE, "games": games})
    return records, meta


# ---- the official formulas, re-derived ---------------------------------------------------------------

def official_battles(records: list[dict]) -> pd.DataFrame:
    data = pd.DataFrame(records)
    null = data.games.map(lambda x: x[0] is None or x[1] is None or x[0]["score"] is None or x[1]["score"] is None)
    data = data[~null].reset_index(drop=True)
    data["scores"] = data.games.map(
        lambda x: LABEL_TO_SCORE[x[1]["score"]] + [1 - s for s in LABEL_TO_SCORE[x[0]["score"]]])
    return data[["uid", "model", "category", "scores"]].explode("scores").reset_index(drop=True)


def _features(battles: pd.DataFrame, meta: dict, center: bool = True) -> torch.Tensor:
    def vec(m: dict) -> list[float]:
        return [v if isinstance(v, int) else sum(v.values()) for v in m.values()]

    mf = torch.tensor([vec(meta[m][u]) for m, u in zip(battles.model, battles.uid, strict=True)], dtype=torch.float32)
    bf = torch.tensor([vec(meta[BASELINE][u]) for u in battles.uid], dtype=torch.float32)
    final = torch.zeros_like(mf)
    final[:, 0] = (mf[:, 0] - bf[:, 0]) / (mf[:, 0] + bf[:, 0])
    md, bd = mf[:, 1:] / (mf[:, :1] + 1), bf[:, 1:] / (bf[:, :1] + 1)
    final[:, 1:] = (md - bd) / (md + bd + 1)
    mean = torch.mean(final, axis=0) if center else 0.0
    return (final - mean) / torch.std(final, axis=0)


def _fit_bt(features: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
    logits = torch.nn.Parameter(torch.full((features.shape[1],), 0.5))
    opt = torch.optim.LBFGS([logits], lr=0.1, max_iter=50, tolerance_grad=1e-9, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(features @ logits, outcomes.float(),
                                                                    reduction="sum")
        loss.backward()
        return loss

    opt.step(closure)
    return logits.detach()


def official_style_control(battles: pd.DataFrame, meta: dict, seed: int | None, center: bool = True) -> dict:
    """show_result.py --control-features markdown length, for one model: median and 5/95% quantiles (percent).

    seed None: one fit on all battles (no bootstrap), the point estimate.
    """
    style = _features(battles, meta, center)
    outcomes = torch.tensor(battles.scores.astype(float).tolist())
    models = sorted({MODEL, BASELINE})
    one_hot = torch.tensor([[1 if m == MODEL else -1 for m in models] for _ in range(len(battles))],
                           dtype=torch.float32)
    features = torch.cat([one_hot, style], dim=1)
    if seed is None:
        boot = np.arange(features.shape[0])[None, :]
    else:
        np.random.seed(seed)
        boot = np.random.randint(low=0, high=features.shape[0], size=(100, features.shape[0]))
    coefs = torch.stack([_fit_bt(features[i], outcomes[i]) for i in boot])[:, :len(models)]
    e = torch.exp(coefs)
    wr = (e[:, models.index(MODEL)] / (e[:, models.index(MODEL)] + e[:, models.index(BASELINE)])).numpy()
    return {"value": 100 * float(np.quantile(wr, 0.5)),
            "ci": [100 * float(np.quantile(wr, 0.05)), 100 * float(np.quantile(wr, 0.95))]}


def official_mean_score(battles: pd.DataFrame, seed: int) -> dict:
    """show_result.py without control features: the mean of 100 bootstrap means, 5/95% quantiles (percent)."""
    b = battles[["model", "scores"]]
    np.random.seed(seed)
    boots = pd.concat([b.groupby("model").sample(frac=1.0, replace=True).groupby("model").mean()
                       for _ in range(100)])
    s = boots["scores"].astype(float)
    return {"value": 100 * float(s.mean()), "ci": [100 * float(s.quantile(0.05)), 100 * float(s.quantile(0.95))]}


# ---- the suite's scoring on the same judgments ---------------------------------------------------------

def suite_games(records: list[dict], meta: dict) -> list[dict]:
    """The same judgments as the suite's game dicts (metadata summed over kinds, game 1 = model is B)."""
    def flat(m: dict) -> dict:
        return {k: (v if isinstance(v, int) else sum(v.values())) for k, v in m.items()}

    games = []
    for r in records:
        mm, mb = flat(meta[MODEL][r["uid"]]), flat(meta[BASELINE][r["uid"]])
        for game, model_is_a in ((1, False), (2, True)):
            ma, mbb = (mm, mb) if model_is_a else (mb, mm)
            games.append({"uid": r["uid"], "category": r["category"], "game": game, "model_is_a": model_is_a,
                          "verdict": r["games"][game - 1]["score"], "meta_a": ma, "meta_b": mbb})
    return games


@pytest.fixture(scope="module")
def case():
    from gift.evals.arena_hard import scoring as ah

    records, meta = synthetic_judgments(500, seed=0)
    battles = official_battles(records)
    ours = ah.score_games(suite_games(records, meta), n_bootstrap=100, seed=SEED)["hard_prompt"]
    return records, meta, battles, ours


def test_the_synthetic_model_is_systematically_shorter(case):
    records, meta, battles, _ = case
    ratio = np.mean([meta[MODEL][r["uid"]]["token_len"] / meta[BASELINE][r["uid"]]["token_len"] for r in records])
    assert ratio < 0.6
    assert sum(r["games"][0]["score"] is None or r["games"][1]["score"] is None for r in records) > 10


def test_style_controlled_score_equals_the_official_derivation(case):
    _, meta, battles, ours = case
    ref = official_style_control(battles, meta, SEED)
    assert ours["style_control"]["value"] == pytest.approx(ref["value"], abs=0.3)
    assert ours["style_control"]["ci"] == pytest.approx(ref["ci"], abs=0.3)
    assert ours["style_control"]["point"] == pytest.approx(official_style_control(battles, meta, None)["value"],
                                                           abs=0.3)
    # The test can fail: the win probability at zero style difference (what z-scoring A-minus-B features,
    # whose mean is ~0, gives) is far from the official one on this set.
    at_zero = official_style_control(battles, meta, None, center=False)
    assert abs(at_zero["value"] - ref["value"]) > 3.0


def test_mean_score_equals_the_official_derivation(case):
    _, _, battles, ours = case
    ref = official_mean_score(battles, SEED)
    assert ours["mean_score"]["value"] == pytest.approx(ref["value"], abs=0.3)
    assert ours["mean_score"]["ci"] == pytest.approx(ref["ci"], abs=0.3)
    # the median of the resample means is not what the official code reports
    assert ours["mean_score"]["centre"] == "mean"


def test_a_question_with_one_unparsed_game_is_dropped_whole(case):
    records, _, battles, ours = case
    n_dropped = sum(r["games"][0]["score"] is None or r["games"][1]["score"] is None for r in records)
    assert ours["n_dropped_questions"] == n_dropped
    assert ours["n_battles"] == len(battles)


def test_markdown_counts_follow_add_markdown_info():
    from gift.evals.arena_hard import scoring as ah

    text = ("# T\n## U\n####### not a header\n\n**b** and __c__ and ** no\n\n1. one\n  - two\n* three\n"
            "```py\n# comment\n- x\n```\nafter `code` ```unclosed\n# H\n")
    # by hand: headers '# T', '## U', '# H'; lists '1.', '  -', '*'; bold **b**, __c__; the fenced block's
    # content (no backtick inside) is cut out, the unclosed fence is not a block
    assert ah.markdown_counts(text) == {"header_count": 3, "list_count": 3, "bold_count": 2}
    # density is count / (token_len + 1): 3 headers in 2 tokens against none
    f = ah.style_features({"token_len": 2, "header_count": 3, "list_count": 0, "bold_count": 0},
                          {"token_len": 8, "header_count": 0, "list_count": 0, "bold_count": 0})
    assert f == pytest.approx([(2 - 8) / 10, 1.0 / (1.0 + 0 + 1), 0.0, 0.0])


def _official_get_score(judgment: str, patterns=(r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]")) -> str | None:
    """gen_judgment.py's get_score, re-derived: last match of the first pattern that matches the upper-cased text."""
    import re

    for pattern in patterns:
        matches = [m for m in re.compile(pattern).findall(judgment.upper()) if m != ""]
        if len(set(matches)) > 0:
            return matches[-1].strip("\n")
    return None


@pytest.mark.parametrize("text", [
    "My final verdict is: [[A>>B]]",
    "first [[A>B]], on reflection [[B>A]]",  # the last one counts
    "only single brackets: [B>>A]",
    "lower case [[a<b]]",
    "[[B<<A]] and a stray [A=B]",
    "[[ B >> A ]]",  # spaces: no match in either pattern
    "no verdict at all",
    "[[A>>>B]]",  # a label show_result.py has no score for
])
def test_verdicts_are_read_as_gen_judgment_reads_them(text):
    from gift.evals.arena_hard import scoring as ah

    label = _official_get_score(text)
    score = LABEL_TO_SCORE.get(label)
    ours = ah.official_verdict(text)
    if score is None:
        assert ours is None
    else:
        # the suite's canonical label scores the same for A as the official label
        canonical = {"A>>B": [1] * WEIGHT, "A>B": [1], "A=B": [0.5], "B>A": [0], "B>>A": [0] * WEIGHT}
        assert canonical[ours] == score
