"""Arena-Hard v2 scoring: pairwise judgments against the baselines, style-controlled Bradley-Terry, bootstrap.

This module is the evaluation (question sets, answers, games, the judge, `gift eval arena-hard`); the scoring,
formula for formula after arena-hard-auto's ``show_result.py``, is `gift.evals.arena_hard.scoring`, and the
official judge prompts fetched at the pinned commit are `gift.evals.arena_hard.official`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gift.cli import MODEL_HELP, HelpFormatter
from gift.evals.arena_hard.official import ARENA_HARD_COMMIT, ARENA_HARD_REPO, load_judge_prompts, prompts_hash
from gift.evals.arena_hard.scoring import (
    CATEGORIES,
    OFFICIAL_VERDICT_PATTERNS,
    STYLE_FEATURES,
    answer_metadata,
    official_verdict,
    score_games,
    style_features,
)
from gift.evals.judges import add_judged_generation_args
from gift.files import asset_path, file_logger, git_commit, package_versions, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

# Arena-Hard v2.0's baselines per category.
DEFAULT_BASELINES = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
JUDGE_PROMPTS = asset_path("arena_hard", "judge_prompts.yaml")
# The config key that names the judge (named in the error when the judge's server lacks its model).
JUDGE_CONFIG_KEY = "evaluation.arena_hard.judge"
# The judge behind the paper's Arena-Hard v2 numbers (arena-hard-auto v2.0's default judge).
PAPER_JUDGE = "api:gpt-4.1"


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


def make_judge(spec_text: str, cache_path: Path, prompts_path: str | Path, api_key_env: str = "OPENAI_API_KEY",
               tie_margin: float = 0.1, strong_margin: float = 1.0) -> Any:
    """An Arena-Hard judge from ``--judge``; an API judge loads its prompts and checks its key and model here,
    before any generation."""
    from gift.evals import judges
    from gift.evals.arena_hard import judges as arena_judges
    spec = judges.parse_judge(spec_text, api_key_env)
    if spec.kind == "reward-model":
        judge = arena_judges.RewardModelArenaJudge(judges.reward_model_scorer(spec.target), name=spec.name,
                                             tie_margin=tie_margin, strong_margin=strong_margin)
        judge.prompts = None  # scores answers directly: no prompt
        return judge
    prompts = load_judge_prompts(prompts_path)
    client = judges.make_client(spec, cache_path, config_key=JUDGE_CONFIG_KEY)
    client.check_model()
    settings = prompts.get("settings") or {}
    return arena_judges.ApiArenaJudge(client, prompts, temperature=float(settings.get("temperature", 0.0)),
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
    p = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift eval arena-hard", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help=MODEL_HELP)
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
    p.add_argument("--bootstrap", type=int, default=100, help="bootstrap rounds of the score's interval")
    p.add_argument("--tie-margin", type=float, default=0.1, help="reward-model judge: |score diff| below is a tie")
    p.add_argument("--strong-margin", type=float, default=1.0, help="reward-model judge: |score diff| above is strong")
    args = p.parse_args(argv)
    args.argv = list(argv)
    from gift.evals.judge_client import JudgeError

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
    log_ = file_logger("gift.evals.arena_hard.evaluate", stem.parent / f"{stem.name}.log")
    t0 = time.time()
    questions, baseline_answers, baselines = _question_set(args, stem)
    cache = Path(args.cache) if args.cache else stem.parent / f"{stem.name}.judge_cache.jsonl"
    judge = make_judge(args.judge, cache, args.judge_prompts, args.api_key_env, args.tie_margin, args.strong_margin)
    model_id = args.model_id or Path(args.model).name
    if generator is None:
        from gift.pretrained import local_model

        # an untrained backbone comes as owner/name@revision: its directory in the hub cache (gift fetch)
        args.model = local_model(args.model)
    tokenizer_name = args.tokenizer or args.model
    if count_tokens is None:
        count_tokens = _token_counter(tokenizer_name)
    log_.info("arena-hard: %d questions, model %s, judge %s", len(questions), model_id, judge.name)

    t_gen = time.time()
    model_answers, produced = _generate_answers(args, questions, model_id, generator, count_tokens, stem)
    gen_s = time.time() - t_gen

    t_judge = time.time()
    games = build_games(questions, model_answers, baseline_answers, baselines, count_tokens)
    judge_games(games, judge, progress=not args.no_progress)
    scores = score_games(games, n_bootstrap=args.bootstrap, seed=args.seed)
    judge_s = time.time() - t_judge
    write_jsonl(stem.parent / f"{stem.name}.judgments.jsonl", (
        {k: g[k] for k in ("uid", "category", "game", "baseline", "model_is_a", "verdict", "judgment", "style")}
        for g in games))

    wall_s = {"generation": round(gen_s, 2), "judge_and_scoring": round(judge_s, 2),
              "total": round(time.time() - t0, 2)}
    doc = _result_doc(args, model_id, judge, baselines, tokenizer_name, scores, wall_s)
    doc["details"].update(produced)
    write_json(out, doc)
    metrics = doc["metrics"]
    log_.info("hard prompts (style control) %s, creative writing %s, unparsed %d",
              metrics["hard_prompts_style_control"]["value"], metrics["creative_writing"]["value"],
              doc["details"]["n_unparsed"])
    print(json.dumps({k: v["value"] for k, v in metrics.items()}))
    return 0


def _question_set(args: argparse.Namespace, stem: Path) -> tuple[list[dict], dict[str, dict[str, str]], dict[str, str]]:
    """(questions, {baseline model: {uid: answer}}, baseline per category): a synthetic set (written beside the
    result) or the question and answer files `--questions` and `--baseline-answers` name."""
    if not args.questions.startswith("synthetic:"):
        return (load_questions(args.questions, args.limit), load_answers(args.baseline_answers),
                _parse_baselines(args.baselines))
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
    return questions, baseline_answers, baselines


def _generate_answers(args: argparse.Namespace, questions: Sequence[dict], model_id: str,
                      generator: Callable[[list[list[dict]], dict], list[str]] | None,
                      count_tokens: Callable[[str], int], stem: Path) -> tuple[dict[str, str], dict]:
    """({uid: the model's answer} of every question, also written beside the result in arena-hard's schema;
    the engine and sampling parameters that answered)."""
    gen = generator
    if gen is None:
        from gift.generation import make_generator

        # vLLM on the job's GPUs when installed, else the model on the GPU: never a 7B model on the CPU
        gen = make_generator(args.model, backend=getattr(args, "backend", "auto"))

    kwargs = {"temperature": args.temperature or 1.0, "greedy": args.temperature == 0,
              "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "seed": args.seed}
    texts = gen([[{"role": "user", "content": q["prompt"]}] for q in questions], kwargs)
    if len(texts) != len(questions):
        raise RuntimeError(f"generation returned {len(texts)} answers for {len(questions)} questions")
    model_answers = {q["uid"]: (t if isinstance(t, str) else "") for q, t in zip(questions, texts, strict=True)}
    write_jsonl(stem.parent / f"{stem.name}.answers.jsonl", (
        answer_row(q["uid"], model_id, q["prompt"], model_answers[q["uid"]],
                   answer_metadata(model_answers[q["uid"]], count_tokens)) for q in questions))
    return model_answers, {"generation_engine": getattr(gen, "engine", None), "sampling": getattr(gen, "sampling", None)}


def _result_doc(args: argparse.Namespace, model_id: str, judge: Any, baselines: dict[str, str], tokenizer_name: str,
                scores: dict, wall_s: dict) -> dict:
    """The result JSON: the two headline metrics, the scores behind them, the judge and prompts, provenance."""
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
               "wall_s": wall_s}
    if hasattr(judge, "client"):
        details["judge_api"] = judge.client.stats()
    return {"model": model_id, "model_path": str(args.model), "eval": "arena_hard", "metrics": metrics,
            "details": details, "provenance": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                               "git_commit": git_commit(), "versions": package_versions(),
                                               "argv": ["gift", "eval", "arena-hard", *getattr(args, "argv", [])]}}
