"""Arena-Hard v2 scoring: pairwise judgments against the baselines, style-controlled Bradley-Terry, bootstrap.

Arena-Hard-Auto is not a package; the scoring here follows its ``show_result.py`` (and ``utils/``) at
commit ``ARENA_HARD_COMMIT`` of github.com/lmarena/arena-hard-auto, formula for formula
(docs/evaluation.md#arena-hard-v20-table-3 states the protocol):

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

import argparse
import ast
import hashlib
import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gift.assets import asset_path
from gift.evals.judges import add_judged_generation_args, sigmoid
from gift.io import file_logger, git_commit, package_versions, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

# The arena-hard-auto commit whose show_result.py, judge prompts and judge settings the suite follows.
ARENA_HARD_REPO = "lmarena/arena-hard-auto"
ARENA_HARD_COMMIT = "196f6b826783b3da7310e361a805fa36f0be83f3"

CATEGORIES = ("hard_prompt", "creative_writing")
# Arena-Hard v2.0's baselines per category.
DEFAULT_BASELINES = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
STYLE_FEATURES = ("length", "header_density", "list_density", "bold_density")
JUDGE_PROMPTS = asset_path("arena_hard", "judge_prompts.yaml")
STRONG_WEIGHT = 3  # show_result.py's `weight`: a strong verdict counts as three battles
# The config key that names the judge (named in the error when the judge's server lacks its model).
JUDGE_CONFIG_KEY = "evaluation.arena_hard.judge"
# The judge behind the paper's Arena-Hard v2 numbers (arena-hard-auto v2.0's default judge).
PAPER_JUDGE = "api:gpt-4.1"

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


# ---- the official judge prompts and files, fetched at the pinned commit ------------------------------

@dataclass(frozen=True)
class FetchItem:
    """One file the download step fetches: its URL at the pinned commit, where it goes, its sha256 if known."""

    url: str
    dest: str
    sha256: str | None
    what: str


# arena-hard-auto files at ARENA_HARD_COMMIT: (path in the repository, file name, sha256 of that commit's
# file). The sha256 values were computed from a checkout of that commit; gemini-2.0-flash-001's answers were
# not in the checkout read, so their hash is not known here and is only reported after the download.
OFFICIAL_PROMPT_FILES = {
    "judge_utils.py": ("utils/judge_utils.py",
                       "cbb093f4fc27408d8447e946392f26f98538b1e3950f574aca91a0f7595167b4"),
    "arena-hard-v2.0.yaml": ("config/arena-hard-v2.0.yaml",
                             "ee68e5c6ac98a79720bf11014fc3f7fc3c3e5899153b3b08efe3db0e174215a0"),
}
OFFICIAL_DATA_FILES = {
    "question.jsonl": ("data/arena-hard-v2.0/question.jsonl",
                       "a75cef6623db6b27aec810497b059f0659705d7ff48dcbccc5bd5b130728ac73"),
    "o3-mini-2025-01-31.jsonl": ("data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl",
                                 "c23a7c255eead99f7f86ad48aa1d8ccdb5b3334f2097e0e1e09184df87265e03"),
    "gemini-2.0-flash-001.jsonl": ("data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl", None),
}


def official_url(repo_path: str) -> str:
    """The raw-file URL of an arena-hard-auto file at the pinned commit."""
    return f"https://raw.githubusercontent.com/{ARENA_HARD_REPO}/{ARENA_HARD_COMMIT}/{repo_path}"


def fetch_manifest(section: Mapping[str, Any] | None = None) -> list[FetchItem]:
    """What the download step must fetch for an ``evaluation.arena_hard`` config section.

    The judge prompts go to the directory ``judge_prompts`` names (when it is not the suite's own YAML file);
    the questions and the baselines' answers go where ``questions`` and ``baseline_answers`` name them, when
    those are the official files (a synthetic set needs nothing).
    """
    section = dict(section or {})
    items: list[FetchItem] = []
    prompts = str(section.get("judge_prompts") or "")
    if prompts and not prompts.endswith((".yaml", ".yml")):
        for name, (repo_path, sha) in OFFICIAL_PROMPT_FILES.items():
            items.append(FetchItem(official_url(repo_path), str(Path(prompts) / name), sha,
                                   f"arena-hard-auto judge {'prompts' if name.endswith('.py') else 'settings'}"))
    questions = str(section.get("questions") or "")
    if questions and not questions.startswith("synthetic:"):
        repo_path, sha = OFFICIAL_DATA_FILES["question.jsonl"]
        items.append(FetchItem(official_url(repo_path), questions, sha, "Arena-Hard v2.0 questions"))
    for dest in section.get("baseline_answers") or []:
        if Path(dest).name in OFFICIAL_DATA_FILES:
            repo_path, sha = OFFICIAL_DATA_FILES[Path(dest).name]
            items.append(FetchItem(official_url(repo_path), str(dest), sha, "baseline answers"))
    return items


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _literal(node: ast.AST, env: dict[str, Any]) -> Any:
    """The value of a literal expression that may name earlier module constants; never runs code."""
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ValueError(f"unknown name {node.id}")
        return env[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left, env) + _literal(node.right, env)
    if isinstance(node, ast.Dict):
        return {_literal(k, env): _literal(v, env) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, env) for e in node.elts]
    return ast.literal_eval(node)


def _module_constants(path: Path) -> dict[str, Any]:
    """Module-level NAME = literal assignments of a Python file, read with `ast` (the file is never run)."""
    env: dict[str, Any] = {}
    for stmt in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                env[stmt.targets[0].id] = _literal(stmt.value, env)
            except (ValueError, TypeError, SyntaxError):
                continue  # not a literal: not one of the constants the prompts live in
    return env


def prompts_hash(prompts: Mapping[str, Any]) -> str:
    """sha256 of the prompt texts a judge sends (the user template and the system prompt per category)."""
    core = {"template": prompts["template"], "system": prompts["system"]}
    return hashlib.sha256(json.dumps(core, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def load_official_prompts(directory: str | Path, verify: bool = True) -> dict:
    """arena-hard-auto's judge prompts and settings from the files fetched at the pinned commit.

    The system prompt per category comes from utils/judge_utils.py's JUDGE_SETTINGS, the user template, judge
    model, temperature and max_tokens from config/arena-hard-v2.0.yaml. With `verify`, a file whose sha256
    is not the pinned commit's is refused.
    """
    import yaml

    directory = Path(directory)
    files = {}
    for name, (repo_path, sha) in OFFICIAL_PROMPT_FILES.items():
        path = directory / name
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: the official Arena-Hard judge prompts are fetched by the "
                                    f"download step (`gift fetch --config CONFIG`) from {official_url(repo_path)}")
        files[name] = sha256_of(path)
        if verify and sha is not None and files[name] != sha:
            raise ValueError(f"{path}: sha256 {files[name]} is not that of {repo_path} at {ARENA_HARD_COMMIT} "
                             f"({sha}); fetch it again")
    settings_py = _module_constants(directory / "judge_utils.py").get("JUDGE_SETTINGS")
    if not isinstance(settings_py, dict):
        raise ValueError(f"{directory / 'judge_utils.py'}: no JUDGE_SETTINGS dictionary of literals")
    system = {}
    for cat in CATEGORIES:
        text = (settings_py.get(cat) or {}).get("system_prompt")
        if not isinstance(text, str):
            raise ValueError(f"{directory / 'judge_utils.py'}: JUDGE_SETTINGS[{cat!r}] has no system_prompt string")
        system[cat] = text
    cfg = yaml.safe_load((directory / "arena-hard-v2.0.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(cfg.get("prompt_template"), str):
        raise ValueError(f"{directory / 'arena-hard-v2.0.yaml'}: no prompt_template string")
    prompts = {"name": f"{ARENA_HARD_REPO}@{ARENA_HARD_COMMIT}", "template": cfg["prompt_template"],
               "system": system,
               "settings": {k: cfg[k] for k in ("judge_model", "temperature", "max_tokens", "regex_patterns")
                            if k in cfg},
               "baselines": {cat: (settings_py.get(cat) or {}).get("baseline") for cat in CATEGORIES}}
    prompts["provenance"] = {"source": "official", "repo": ARENA_HARD_REPO, "commit": ARENA_HARD_COMMIT,
                             "files": files, "sha256": prompts_hash(prompts)}
    return prompts


def load_judge_prompts(path: str | Path) -> dict:
    """The judge prompts `path` names: a directory of fetched official files, or the suite's own YAML file."""
    from gift.evals.judges import load_arena_prompts

    path = Path(path)
    if path.is_dir() or path.suffix not in (".yaml", ".yml"):
        return load_official_prompts(path)
    prompts = load_arena_prompts(path)
    prompts["provenance"] = {"source": "suite", "file": str(path), "files": {path.name: sha256_of(path)},
                             "sha256": prompts_hash(prompts)}
    return prompts


# ---- question sets and answers ----------------------------------------------------------------------

def load_questions(path: str | Path, limit: int | None = None) -> list[dict]:
    """Arena-Hard v2 questions (uid, category, subcategory, language, prompt); `limit` per category."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Arena-Hard question file {path} does not exist (arena-hard-auto's "
                                "data/arena-hard-v2.0/question.jsonl, or make a synthetic set with --synthetic)")
    rows = read_jsonl(path)
    per_cat: dict[str, int] = {}
    out = []
    for i, q in enumerate(rows):
        for key in ("uid", "category", "prompt"):
            if not isinstance(q.get(key), str):
                raise ValueError(f"{path}: question {i} has no string {key!r} field")
        if q["category"] not in CATEGORIES:
            raise ValueError(f"{path}: question {q['uid']} has category {q['category']!r}, not one of {CATEGORIES}")
        per_cat[q["category"]] = per_cat.get(q["category"], 0) + 1
        if limit is None or per_cat[q["category"]] <= limit:
            out.append(q)
    return out


def answer_text(row: dict) -> str:
    """The assistant's answer of an arena-hard model-answer row (content as a string or {"answer": ...})."""
    for m in reversed(row.get("messages") or []):
        if m.get("role") == "assistant":
            c = m.get("content")
            return c.get("answer", "") if isinstance(c, dict) else str(c or "")
    raise ValueError(f"answer row {row.get('uid')!r} has no assistant message")


def load_answers(paths: Sequence[str | Path]) -> dict[str, dict[str, str]]:
    """{model: {uid: answer}} from arena-hard model-answer JSONL files."""
    out: dict[str, dict[str, str]] = {}
    for p in paths:
        for row in read_jsonl(p):
            if "uid" not in row or "model" not in row:
                raise ValueError(f"{p}: answer rows need 'uid' and 'model' fields")
            out.setdefault(row["model"], {})[row["uid"]] = answer_text(row)
    return out


def answer_row(uid: str, model: str, prompt: str, answer: str, metadata: dict | None = None) -> dict:
    """One row in arena-hard v2's model-answer schema."""
    return {"uid": uid, "ans_id": f"{model}-{uid}", "model": model, "tstamp": time.time(),
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": {"answer": answer}}],
            "metadata": metadata or {}}


def synthetic_question_set(n_hard: int, n_creative: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Questions in arena-hard v2's schema and baseline answers (one baseline model per category).

    Hard prompts come from the instruction twin (their reference is the baseline answer); creative writing
    asks for a short line about a word (the baseline repeats the word plainly).
    """
    from gift.data.synthetic import WORDS, instruction_pair

    rng = random.Random(seed)
    questions, answers = [], []
    for i in range(n_hard):
        prompt, reference = instruction_pair(rng)
        uid = f"syn-hp-{seed}-{i:04d}"
        questions.append({"uid": uid, "category": "hard_prompt", "subcategory": "synthetic", "language": "en",
                          "prompt": prompt})
        answers.append(answer_row(uid, "synthetic-baseline-hard", prompt, reference))
    for i in range(n_creative):
        word = rng.choice(WORDS)
        uid = f"syn-cw-{seed}-{i:04d}"
        prompt = f"Write a short poem about the word {word}."
        questions.append({"uid": uid, "category": "creative_writing", "subcategory": "poem", "language": "en",
                          "prompt": prompt})
        answers.append(answer_row(uid, "synthetic-baseline-creative", prompt, f"{word}, {word}, {word}."))
    return questions, answers


# ---- the evaluation ---------------------------------------------------------------------------------

def build_games(questions: Sequence[dict], model_answers: dict[str, str], baseline_answers: dict[str, dict[str, str]],
                baselines: dict[str, str], count_tokens: Callable[[str], int]) -> list[dict]:
    """The two games (positions swapped) of every question that has both answers."""
    games = []
    for q in questions:
        base_model = baselines[q["category"]]
        base = baseline_answers.get(base_model, {}).get(q["uid"])
        if base is None:
            raise ValueError(f"no answer of baseline {base_model!r} for question {q['uid']}")
        mine = model_answers[q["uid"]]
        meta_m, meta_b = answer_metadata(mine, count_tokens), answer_metadata(base, count_tokens)
        feats = style_features(meta_m, meta_b)
        for game, model_is_a in ((1, False), (2, True)):
            a, b = (mine, base) if model_is_a else (base, mine)
            ma, mb = (meta_m, meta_b) if model_is_a else (meta_b, meta_m)
            games.append({"uid": q["uid"], "category": q["category"], "game": game, "baseline": base_model,
                          "model_is_a": model_is_a, "question": q["prompt"], "answer_a": a, "answer_b": b,
                          "style": feats, "meta_a": ma, "meta_b": mb})
    return games


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


def make_judge(spec_text: str, cache_path: Path, prompts_path: str | Path, api_key_env: str = "OPENAI_API_KEY",
               tie_margin: float = 0.1, strong_margin: float = 1.0) -> Any:
    """An Arena-Hard judge from ``--judge``; an API judge loads its prompts and checks its key and model here,
    before any generation."""
    from gift.evals import judges

    spec = judges.parse_judge(spec_text, api_key_env)
    if spec.kind == "reward-model":
        judge = judges.RewardModelArenaJudge(judges.reward_model_scorer(spec.target), name=spec.name,
                                             tie_margin=tie_margin, strong_margin=strong_margin)
        judge.prompts = None  # scores answers directly: no prompt
        return judge
    prompts = load_judge_prompts(prompts_path)
    client = judges.make_client(spec, cache_path, config_key=JUDGE_CONFIG_KEY)
    client.check_model()
    settings = prompts.get("settings") or {}
    return judges.ApiArenaJudge(client, prompts, temperature=float(settings.get("temperature", 0.0)),
                                max_tokens=int(settings.get("max_tokens", 16000)))


def judge_prompts_record(judge: Any) -> dict:
    """Which prompts scored the result: the official files at the pinned commit, the suite's, or none."""
    prompts = getattr(judge, "prompts", None)
    if not prompts:
        return {"source": "none", "note": "a reward-model judge scores the answers without a prompt"}
    return dict(prompts.get("provenance") or {"source": "unknown", "sha256": prompts_hash(prompts)})


def paper_judge_record(judge: str, paper_judge: str) -> dict:
    """The paper's judge beside this result's, and whether they are the same judge."""
    from gift.evals.judges import same_judge

    return {"paper_judge": paper_judge, "judge_is_paper_judge": same_judge(judge, paper_judge)}


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


def judge_games(games: list[dict], judge: Any, progress: bool = True) -> None:
    """Fill `judgment` (raw text) and `verdict` (read as arena-hard-auto reads it, or None) of every game.

    Never raises on judge output. The patterns are those of the judge's official settings when it has them.
    """
    raws = judge.judge([(g["category"], g["question"], g["answer_a"], g["answer_b"]) for g in games],
                       progress=progress)
    settings = (getattr(judge, "prompts", None) or {}).get("settings") or {}
    patterns = settings.get("regex_patterns") or OFFICIAL_VERDICT_PATTERNS
    for g, raw in zip(games, raws, strict=True):
        g["judgment"] = raw
        g["verdict"] = official_verdict(raw, patterns)


def _token_counter(tokenizer_path: str) -> Callable[[str], int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def cli(argv: list[str]) -> int:
    """Entry point of `gift eval arena-hard`."""
    p = argparse.ArgumentParser(prog="gift eval arena-hard", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="from_pretrained directory of the model to evaluate")
    p.add_argument("--model-id", help="name of the model in the results (default: the directory name)")
    p.add_argument("--questions", required=True,
                   help="question.jsonl (arena-hard v2 schema), or synthetic:N_HARD:N_CREATIVE[:SEED]")
    p.add_argument("--baseline-answers", nargs="*", default=[],
                   help="model-answer JSONL files of the baselines (synthetic sets bring their own)")
    p.add_argument("--baselines", default=None,
                   help="category=model pairs, comma separated (default: o3-mini for hard prompts, "
                        "gemini-2.0-flash for creative writing)")
    p.add_argument("--judge", required=True, help="reward-model:DIR | api:gpt-4.1 | api:MODEL@BASE_URL")
    p.add_argument("--judge-prompts", default=str(JUDGE_PROMPTS),
                   help="a directory with arena-hard-auto's fetched judge_utils.py and arena-hard-v2.0.yaml (the "
                        "official prompts and settings), or a YAML file of prompts (default: the suite's wording)")
    p.add_argument("--paper-judge", default=PAPER_JUDGE,
                   help="the judge behind the paper's numbers; the result says whether --judge is that judge")
    p.add_argument("--out", required=True, help="result JSON (answers and judgments are written beside it)")
    p.add_argument("--tokenizer", help="tokenizer for token counts (default: the judged model's own)")
    add_judged_generation_args(p, max_new_tokens=4096, limit_help="first N questions of each category")
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--tie-margin", type=float, default=0.1, help="reward-model judge: |score diff| below is a tie")
    p.add_argument("--strong-margin", type=float, default=1.0, help="reward-model judge: |score diff| above is strong")
    args = p.parse_args(argv)
    args.argv = list(argv)
    from gift.evals.judges import JudgeError

    try:
        return run(args)
    except (JudgeError, FileNotFoundError) as err:  # a judge that cannot serve, a missing input: one message
        print(f"gift eval arena-hard: {err}", file=sys.stderr)
        return 1


def _parse_baselines(text: str | None) -> dict[str, str]:
    out = dict(DEFAULT_BASELINES)
    for part in (text or "").split(","):
        if part.strip():
            cat, sep, model = part.partition("=")
            if not sep or cat.strip() not in CATEGORIES:
                raise ValueError(f"--baselines {text!r}: expected category=model with category in {CATEGORIES}")
            out[cat.strip()] = model.strip()
    return out


def run(args: argparse.Namespace, generator: Callable[[list[list[dict]], dict], list[str]] | None = None,
        count_tokens: Callable[[str], int] | None = None) -> int:
    """The body of `cli`; `generator` and `count_tokens` replace the model's own (tests)."""
    out = Path(args.out)
    stem = out.with_suffix("")
    log_ = file_logger("gift.evals.arena_hard", stem.parent / f"{stem.name}.log")
    t0 = time.time()
    if args.questions.startswith("synthetic:"):
        parts = args.questions.split(":")
        try:
            n_hard, n_cw, seed = int(parts[1]), int(parts[2]), int(parts[3]) if len(parts) > 3 else 0
        except (ValueError, IndexError):
            raise ValueError(f"--questions {args.questions!r}: expected synthetic:N_HARD:N_CREATIVE[:SEED]") from None
        questions, base_rows = synthetic_question_set(n_hard, n_cw, seed)
        if args.limit:
            keep = {q["uid"] for c in CATEGORIES for q in [x for x in questions if x["category"] == c][: args.limit]}
            questions = [q for q in questions if q["uid"] in keep]
        write_jsonl(stem.parent / f"{stem.name}.questions.jsonl", questions)
        baseline_answers: dict[str, dict[str, str]] = {}
        for r in base_rows:
            baseline_answers.setdefault(r["model"], {})[r["uid"]] = answer_text(r)
        baselines = {"hard_prompt": "synthetic-baseline-hard", "creative_writing": "synthetic-baseline-creative"}
    else:
        questions = load_questions(args.questions, args.limit)
        baseline_answers = load_answers(args.baseline_answers)
        baselines = _parse_baselines(args.baselines)
    cache = Path(args.cache) if args.cache else stem.parent / f"{stem.name}.judge_cache.jsonl"
    judge = make_judge(args.judge, cache, args.judge_prompts, args.api_key_env, args.tie_margin, args.strong_margin)
    model_id = args.model_id or Path(args.model).name
    if generator is None:
        from gift.hub import local_model

        # an untrained backbone comes as owner/name@revision: its directory in the hub cache (gift fetch)
        args.model = local_model(args.model)
    tokenizer_name = args.tokenizer or args.model
    if count_tokens is None:
        count_tokens = _token_counter(tokenizer_name)
    log_.info("arena-hard: %d questions, model %s, judge %s", len(questions), model_id, judge.name)

    t_gen = time.time()
    gen = generator
    if gen is None:
        from gift.generation import make_generator

        # vLLM on the job's GPUs when installed, else the model on the GPU: never a 7B model on the CPU
        gen = make_generator(args.model)

    kwargs = {"temperature": args.temperature or 1.0, "greedy": args.temperature == 0,
              "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "seed": args.seed}
    texts = gen([[{"role": "user", "content": q["prompt"]}] for q in questions], kwargs)
    if len(texts) != len(questions):
        raise RuntimeError(f"generation returned {len(texts)} answers for {len(questions)} questions")
    model_answers = {q["uid"]: (t if isinstance(t, str) else "") for q, t in zip(questions, texts, strict=True)}
    write_jsonl(stem.parent / f"{stem.name}.answers.jsonl", (
        answer_row(q["uid"], model_id, q["prompt"], model_answers[q["uid"]],
                   answer_metadata(model_answers[q["uid"]], count_tokens)) for q in questions))
    gen_s = time.time() - t_gen

    t_judge = time.time()
    games = build_games(questions, model_answers, baseline_answers, baselines, count_tokens)
    judge_games(games, judge, progress=not args.no_progress)
    scores = score_games(games, n_bootstrap=args.bootstrap, seed=args.seed)
    judge_s = time.time() - t_judge
    write_jsonl(stem.parent / f"{stem.name}.judgments.jsonl", (
        {k: g[k] for k in ("uid", "category", "game", "baseline", "model_is_a", "verdict", "judgment", "style")}
        for g in games))

    hp, cw = scores["hard_prompt"], scores["creative_writing"]
    metrics = {
        "hard_prompts_style_control": {"value": hp["style_control"]["value"], "ci": hp["style_control"]["ci"],
                                       "stderr": None, "n": hp["n_questions"], "metric": "bt_style_control"},
        "creative_writing": {"value": cw["mean_score"]["value"], "ci": cw["mean_score"]["ci"], "stderr": None,
                             "n": cw["n_questions"], "metric": "mean_win_score"},
    }
    details = {"scores": scores, "judge": judge.name, "baselines": baselines, "tokenizer": tokenizer_name,
               "style_features": list(STYLE_FEATURES), "questions": args.questions,
               "scoring": f"show_result.py of {ARENA_HARD_REPO} at {ARENA_HARD_COMMIT}",
               "judge_prompts": judge_prompts_record(judge),
               **paper_judge_record(args.judge, getattr(args, "paper_judge", PAPER_JUDGE)),
               "n_unparsed": hp["n_unparsed"] + cw["n_unparsed"],
               "n_dropped_questions": hp["n_dropped_questions"] + cw["n_dropped_questions"],
               "wall_s": {"generation": round(gen_s, 2), "judge_and_scoring": round(judge_s, 2),
                          "total": round(time.time() - t0, 2)}}
    if hasattr(judge, "client"):
        details["judge_api"] = judge.client.stats()
    doc = {"model": model_id, "model_path": str(args.model), "eval": "arena_hard", "metrics": metrics,
           "details": details, "provenance": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                              "git_commit": git_commit(), "versions": package_versions(),
                                              "argv": ["gift", "eval", "arena-hard", *getattr(args, "argv", [])]}}
    write_json(out, doc)
    log_.info("hard prompts (style control) %s, creative writing %s, unparsed %d",
              metrics["hard_prompts_style_control"]["value"], metrics["creative_writing"]["value"],
              details["n_unparsed"])
    print(json.dumps({k: v["value"] for k, v in metrics.items()}))
    return 0
