"""Arena-Hard v2 scoring: style features, style-controlled Bradley-Terry, bootstrap, verdicts read officially.

Arena-Hard-Auto is not a package; the scoring here follows its ``show_result.py`` (and ``utils/``) at
commit ``ARENA_HARD_COMMIT`` (`gift.evals.arena_hard.official`) of github.com/lmarena/arena-hard-auto, formula
for formula (docs/evaluation.md#arena-hard-v20-table-3 states the protocol):

- each question is judged twice, positions swapped (game 1: A = baseline, B = model; game 2: A = model);
  when either game of a question has no verdict, the whole question is dropped (and counted);
- the battles of a question are the model's results, game 2 first: win 1, tie 0.5, loss 0, a strong
  verdict (``>>``) repeated three times;
- style features per battle, model minus baseline: length (l_m - l_b) / (l_m + l_b) and, for markdown
  headers, list items and bold spans, (d_m - d_b) / (d_m + d_b + 1) with the density d = count / (l + 1);
  the four columns are z-scored once over all battles (mean, sample standard deviation), so the score is
  the model's win probability at the battles' average style difference;
- hard prompts: Bradley-Terry (logistic regression without intercept on the model's indicator and the
  z-scored features), 100 bootstrap resamples of the battle rows; the value is the median of
  sigmoid(model coefficient) and the interval its 5-95% quantiles;
- creative writing (and the no-style-control view): the mean of the model's results over 100 bootstrap
  resamples; the value is the mean of the resample means, the interval their 5-95% quantiles.

Resamples draw row indices as ``numpy.random.RandomState(seed).randint`` does, which is what the official
code draws from numpy's global generator after ``numpy.random.seed(seed)``. The model is fit alone against
its baseline, which is what ``show_result.py`` reports when the judgment folder holds only that model (with
several models it fits the style coefficients jointly).

Token counts use an offline tokenizer (the judged model's own by default), named in the result, instead of
arena-hard's tiktoken gpt-4o encoding (which needs a download); markdown counts use the official regexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gift.evals.judges import sigmoid

CATEGORIES = ("hard_prompt", "creative_writing")
STYLE_FEATURES = ("length", "header_density", "list_density", "bold_density")
STRONG_WEIGHT = 3  # show_result.py's `weight`: a strong verdict counts as three battles

# The model's result in a game where it is B (game 1), per verdict label.
_RESULT_AS_B = {"B>>A": 1.0, "B>A": 1.0, "A=B": 0.5, "A>B": 0.0, "A>>B": 0.0}


# ---- markdown and length features -------------------------------------------------------------------

# add_markdown_info.py: the text between triple backticks (no backtick inside) is cut out wherever it occurs.
_CODE_BLOCK = re.compile(r"```([^`]*)```")
_HEADERS = [re.compile(rf"^#{{{k}}}\s", re.M) for k in range(1, 7)]
_LISTS = [re.compile(r"^\s*\d+\.\s", re.M), re.compile(r"^\s*[-*+]\s", re.M)]
_BOLDS = [re.compile(r"\*\*[^*\n]+\*\*"), re.compile(r"__[^_\n]+__")]


def markdown_counts(text: str) -> dict[str, int]:
    """Headers, list items and bold spans outside code blocks, as arena-hard's add_markdown_info.py counts them."""
    text = text or ""
    for block in _CODE_BLOCK.findall(text):
        text = text.replace(block, "")
    return {"header_count": sum(len(r.findall(text)) for r in _HEADERS),
            "list_count": sum(len(r.findall(text)) for r in _LISTS),
            "bold_count": sum(len(r.findall(text)) for r in _BOLDS)}


def answer_metadata(text: str, count_tokens: Callable[[str], int]) -> dict:
    """token_len and markdown counts of one answer (arena-hard's answer metadata)."""
    return {"token_len": int(count_tokens(text or "")), **markdown_counts(text)}


def style_features(meta_model: dict, meta_base: dict) -> list[float]:
    """The four style features of a battle, model minus baseline, with show_result.py's formulas.

    Two empty answers (0 + 0 tokens) get a length feature of 0, where the official code stops on a NaN.
    """
    lm, lb = meta_model["token_len"], meta_base["token_len"]
    out = [(lm - lb) / (lm + lb) if lm + lb > 0 else 0.0]
    for key in ("header_count", "list_count", "bold_count"):
        dm, db = meta_model[key] / (lm + 1), meta_base[key] / (lb + 1)
        out.append((dm - db) / (dm + db + 1))
    return out


# ---- Bradley-Terry with style control ---------------------------------------------------------------

def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-6, iters: int = 100) -> np.ndarray:
    """Coefficients of a logistic regression without intercept on soft labels y in [0, 1] (Newton's method).

    A tiny ridge keeps a perfectly separated set (a model winning every battle) finite.
    """
    beta = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (y - p) - ridge * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


@dataclass
class Battles:
    """Expanded battles of the model against its baseline (a strong verdict is three rows)."""

    outcome: np.ndarray  # the model's result: 1 win, 0.5 tie, 0 loss
    style: np.ndarray  # (n, 4) style features, model minus baseline
    n_dropped_questions: int = 0  # questions left out because a game had no verdict

    def __len__(self) -> int:
        return len(self.outcome)

    def take(self, idx: np.ndarray) -> Battles:
        return Battles(self.outcome[idx], self.style[idx])

    def standardized(self) -> Battles:
        """The style columns z-scored over these battles (sample sd); a constant column becomes 0."""
        if len(self) < 2:
            return Battles(self.outcome, np.zeros_like(self.style), self.n_dropped_questions)
        sd = self.style.std(axis=0, ddof=1)
        z = np.where(sd > 0, (self.style - self.style.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)
        return Battles(self.outcome, z, self.n_dropped_questions)


def _meta_of(game: dict) -> tuple[dict, dict]:
    """(model's, baseline's) answer metadata of a game."""
    return (game["meta_a"], game["meta_b"]) if game["model_is_a"] else (game["meta_b"], game["meta_a"])


def expand_battles(games: Sequence[dict]) -> Battles:
    """Battle rows of the questions whose two games both have a verdict, in show_result.py's order.

    Each game dict has uid, model_is_a, verdict (or None), and meta_a / meta_b (answer metadata) or
    `style` (the model-minus-baseline features, when already computed).
    """
    by_uid: dict[str, list[dict]] = {}
    for g in games:
        by_uid.setdefault(g["uid"], []).append(g)
    outcome: list[float] = []
    style: list[list[float]] = []
    dropped = 0
    for gs in by_uid.values():
        as_b = [g for g in gs if not g["model_is_a"]]
        as_a = [g for g in gs if g["model_is_a"]]
        if len(as_a) != 1 or len(as_b) != 1 or as_a[0].get("verdict") is None or as_b[0].get("verdict") is None:
            dropped += 1
            continue
        g2, g1 = as_a[0], as_b[0]
        feats = g1["style"] if "meta_a" not in g1 else style_features(*_meta_of(g1))
        # game 2 (the model is A): the verdict mirrored to the model-as-B view; then game 1
        mirror = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}
        for verdict in (mirror[g2["verdict"]], g1["verdict"]):
            weight = STRONG_WEIGHT if ">>" in verdict else 1
            outcome += [_RESULT_AS_B[verdict]] * weight
            style += [list(feats)] * weight
    return Battles(np.array(outcome, dtype=float), np.array(style, dtype=float).reshape(-1, len(STYLE_FEATURES)),
                   dropped)


def bt_score(b: Battles, style_control: bool) -> float:
    """The model's win probability against the baseline (percent) from a Bradley-Terry fit.

    `b.style` must already be z-scored (`Battles.standardized`, once over all battles, as the official code
    does before resampling).
    """
    x = np.ones((len(b), 1))
    if style_control:
        x = np.hstack([x, b.style])
    beta = fit_logistic(x, b.outcome)
    # the overflow-free logistic: a resample the model loses entirely fits a strength far below -700
    return 100.0 * sigmoid(float(beta[0]))


def mean_score(b: Battles) -> float:
    """The mean result of the model (percent)."""
    return 100.0 * float(b.outcome.mean())


def bootstrap(b: Battles, stat: Callable[[Battles], float], n: int = 100, seed: int = 0,
              centre: str = "median") -> dict:
    """`centre` ('median' or 'mean') and 5-95% interval of `stat` over `n` resamples of the battle rows."""
    if len(b) == 0:
        return {"value": None, "ci": None, "point": None, "n_bootstrap": 0, "centre": centre}
    idx = np.random.RandomState(seed).randint(0, len(b), size=(n, len(b)))
    values = np.array([stat(b.take(i)) for i in idx])
    value = np.median(values) if centre == "median" else values.mean()
    return {"value": float(value), "ci": [float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))],
            "point": float(stat(b)), "n_bootstrap": n, "centre": centre}


def score_games(games: Sequence[dict], n_bootstrap: int = 100, seed: int = 0) -> dict:
    """Per category: the style-controlled score (bootstrap median) and the mean score (bootstrap mean).

    `games` carry `verdict` (a label or None); a question with an unparsed game is dropped whole.
    """
    out: dict[str, Any] = {}
    for cat in CATEGORIES:
        g = [x for x in games if x["category"] == cat]
        b = expand_battles(g)
        z = b.standardized()  # once, over all battles, before resampling (show_result.py)
        entry = {"n_questions": len({x["uid"] for x in g}), "n_games": len(g),
                 "n_unparsed": sum(1 for x in g if x.get("verdict") is None),
                 "n_dropped_questions": b.n_dropped_questions, "n_battles": len(b),
                 "style_control": bootstrap(z, lambda bb: bt_score(bb, True), n_bootstrap, seed, "median"),
                 "mean_score": bootstrap(b, mean_score, n_bootstrap, seed, "mean")}
        out[cat] = entry
    return out


# gen_judgment.py's get_score: the patterns of config/arena-hard-v2.0.yaml, tried in order on the upper-cased
# judgment; the last match of the first pattern that matches is the label.
OFFICIAL_VERDICT_PATTERNS = (r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]")
# show_result.py's label_to_score keys, each as the suite's canonical verdict.
_OFFICIAL_LABELS = {"A>B": "A>B", "A>>B": "A>>B", "A=B": "A=B", "A<<B": "B>>A", "A<B": "B>A", "B>A": "B>A",
                    "B>>A": "B>>A", "B=A": "A=B", "B<<A": "A>>B", "B<A": "A>B"}


def official_verdict(judgment: Any, patterns: Sequence[str] = OFFICIAL_VERDICT_PATTERNS) -> str | None:
    """The verdict arena-hard-auto reads from a judgment, as a canonical label; None when it reads none.

    A label outside show_result.py's table (e.g. ``A>>>B``, on which the official code stops with a KeyError)
    is None here: the question is dropped like any other unparsed one.
    """
    if not isinstance(judgment, str):
        return None
    text = judgment.upper()
    for pattern in patterns:
        matches = [m for m in re.findall(pattern, text) if m != ""]
        if matches:
            return _OFFICIAL_LABELS.get(matches[-1].strip("\n"))
    return None
