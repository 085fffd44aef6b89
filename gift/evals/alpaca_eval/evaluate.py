"""AlpacaEval 2: generate a model's outputs, judge them against the reference, score with alpaca_eval's own metrics.

LC win rate, win rate, their standard errors and the average output length come from
`alpaca_eval.metrics.get_length_controlled_winrate` (the GLM of `metrics/glm_winrate.py`), run offline:

- alpaca_eval fetches ``df_gamed.csv`` (per-instruction difficulty and the annotations of two
  length-gamed baselines) with ``hf_hub_download``; `offline_glm_assets` points that call at a local file
  for the duration of the metric computation (the official file given by ``--df-gamed`` or found in the
  Hugging Face cache; for a synthetic instruction set, a file with zero difficulty per instruction);
- ``save_weights_dir=None`` keeps the GLM weights out of site-packages.

With df_gamed.csv (the download step fetches it for the paper config) the LC win rate is the leaderboard's:
the ``length_controlled_v1`` GLM, with the instruction difficulties and regularised towards the gamed
baselines. Without it (and always for a synthetic set) the suite fits alpaca_eval's
``length_controlled_noreg`` GLM with zero difficulty, an approximation: the result marks the metric
``approx`` and the tables label the column "LC (approx.)".
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gift.cli import MODEL_HELP, HelpFormatter
from gift.files import file_logger, git_commit, package_versions, read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

REFERENCE_GENERATOR = "gpt4_1106_preview"
# The config key that names the judge (named in the error when the judge's server lacks its model).
JUDGE_CONFIG_KEY = "evaluation.alpaca_eval.judge"
# The judge behind the paper's AlpacaEval 2 numbers: alpaca_eval's weighted_alpaca_eval_gpt4_turbo annotator.
PAPER_JUDGE = "api:weighted_alpaca_eval_gpt4_turbo"
SYNTHETIC_GENERATOR = "synthetic_reference"
REQUIRED_COLUMNS = ("instruction", "output")
OFFICIAL_SIZE = 805


# ---- instruction sets -------------------------------------------------------------------------------

def synthetic_instruction_set(n: int, seed: int = 0) -> list[dict]:
    """`n` instructions with reference outputs in alpaca_eval's columns (instruction, output, generator, dataset).

    Drawn from the instruction twin that the tiny models are trained on, so a tiny model's outputs are
    comparable with the references.
    """
    from gift.data.synthetic import instruction_pair

    if n < 2:
        raise ValueError("a synthetic instruction set needs at least 2 instructions")
    rng = random.Random(seed)
    rows, seen, draws = [], set(), 0
    while len(rows) < n:
        instruction, output = instruction_pair(rng)
        draws += 1
        if instruction in seen and draws < 20 * n:  # unique while the twin has enough distinct instructions
            continue
        seen.add(instruction)
        rows.append({"instruction": instruction, "output": output, "generator": SYNTHETIC_GENERATOR,
                     "dataset": "synthetic"})
    return rows


def load_instructions(source: str, limit: int | None = None) -> tuple[list[dict], bool]:
    """Rows of an instruction set and whether it is synthetic.

    `source` is a JSON list or JSONL file in alpaca_eval's columns, or ``synthetic:N[:SEED]``. Each row gets
    ``index``, its position in the full set (the key of alpaca_eval's per-instruction difficulty).
    """
    if source.startswith("synthetic:"):
        parts = source.split(":")
        try:
            n, seed = int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (ValueError, IndexError):
            raise ValueError(f"--instructions {source!r}: expected synthetic:N or synthetic:N:SEED") from None
        rows, synthetic = synthetic_instruction_set(n, seed), True
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"instruction set {path} does not exist (AlpacaEval's 805 instructions are "
                                    "not shipped with alpaca_eval: download alpaca_eval.json and point here)")
        rows = read_jsonl(path) if path.suffix == ".jsonl" else read_json(path)
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of rows")
        synthetic = False
    for i, row in enumerate(rows):
        for col in REQUIRED_COLUMNS:
            if not isinstance(row.get(col), str):
                raise ValueError(f"{source}: row {i} has no string {col!r} field (alpaca_eval columns: "
                                 "instruction, output, generator, dataset)")
        row.setdefault("generator", REFERENCE_GENERATOR)
        row.setdefault("dataset", "unknown")
        row["index"] = i
        synthetic = synthetic or row["generator"] == SYNTHETIC_GENERATOR
    return (rows[:limit] if limit else rows), synthetic


# ---- files the download step fetches ----------------------------------------------------------------

# AlpacaEval 2's 805 instructions with the gpt4_1106_preview reference outputs, in the evaluation set's order
# (the index of the per-instruction difficulty), pinned to a commit of github.com/tatsu-lab/alpaca_eval;
# the sha256 was computed from that commit's file.
ALPACA_EVAL_REPO = "tatsu-lab/alpaca_eval"
ALPACA_EVAL_COMMIT = "cd543a149df89434d8a54582c0151c0b945c3d20"
REFERENCE_OUTPUTS = ("results/gpt4_1106_preview/model_outputs.json",
                     "83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4")
# alpaca_eval's GLM reads df_gamed.csv from this dataset repository (its hash is only known after download).
DF_GAMED_URL = "https://huggingface.co/datasets/tatsu-lab/alpaca_eval/resolve/main/df_gamed.csv"


def fetch_manifest(section: dict | None = None) -> list:
    """What the download step must fetch for an ``evaluation.alpaca_eval`` config section.

    The instructions with their reference outputs go where ``instructions`` names them (unless synthetic),
    df_gamed.csv where ``df_gamed`` names it. Items are gift.evals.arena_hard.official.FetchItem.
    """
    from gift.evals.arena_hard.official import FetchItem

    section = dict(section or {})
    items = []
    instructions = str(section.get("instructions") or "")
    if instructions and not instructions.startswith("synthetic:"):
        path, sha = REFERENCE_OUTPUTS
        items.append(FetchItem(f"https://raw.githubusercontent.com/{ALPACA_EVAL_REPO}/{ALPACA_EVAL_COMMIT}/{path}",
                               instructions, sha, "AlpacaEval 2 instructions and gpt4_1106_preview references"))
    if section.get("df_gamed"):
        items.append(FetchItem(DF_GAMED_URL, str(section["df_gamed"]), None,
                               "alpaca_eval df_gamed.csv: instruction difficulty and length-gamed baselines"))
    return items


# ---- offline GLM assets -----------------------------------------------------------------------------

def synthetic_df_gamed(n_instructions: int) -> Any:
    """A df_gamed table for a synthetic set: one row per instruction index, difficulty 0, no gamed rows."""
    import pandas as pd

    return pd.DataFrame({"model": "none", "index": range(n_instructions), "instruction_difficulty": 0.0,
                         "preference": float("nan"), "not_gamed_baseline": True, "std_delta_len": 0.0})


def find_cached_df_gamed() -> Path | None:
    """The official df_gamed.csv when it is already in the Hugging Face cache (never downloads)."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download("tatsu-lab/alpaca_eval", "df_gamed.csv", repo_type="dataset",
                                    local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


@contextlib.contextmanager
def offline_glm_assets(df_gamed_csv: str | Path) -> Iterator[None]:
    """Within the block, alpaca_eval's GLM reads `df_gamed_csv` instead of downloading it from the Hub."""
    import alpaca_eval.metrics.glm_winrate as glm

    original = glm.hf_hub_download

    def local_download(repo_id: str, filename: str, **_: Any) -> str:
        if filename == "df_gamed.csv":
            return str(df_gamed_csv)
        raise RuntimeError(f"alpaca_eval asked for {filename} from the Hub, which the suite does not provide offline")

    glm.hf_hub_download = local_download
    try:
        yield
    finally:
        glm.hf_hub_download = original


def alpaca_metrics(annotations: Any, df_gamed_csv: str | Path, glm_name: str) -> dict:
    """alpaca_eval's own win rate and LC win rate for an annotations table, run offline.

    `annotations` has alpaca_eval's columns: instruction, output_1 (reference), output_2 (model),
    generator_1, generator_2, annotator, preference (1..2, 2 = model wins), index.
    """
    import warnings

    import alpaca_eval.metrics as metrics
    from alpaca_eval.metrics.glm_winrate import GLM_INFO

    glm_info = {**GLM_INFO[glm_name], "kwargs": dict(GLM_INFO[glm_name]["kwargs"])}
    n_rows = int(annotations["preference"].notna().sum())
    if n_rows < 2:
        raise ValueError(f"the LC win rate needs at least 2 judged instructions, got {n_rows}")
    # alpaca_eval cross-validates with 5 folds grouped by instruction; smaller (smoke) sets get fewer folds.
    glm_info["kwargs"]["n_splits"] = min(glm_info["kwargs"].get("n_splits", 5), n_rows)
    delta = annotations["output_1"].str.len() - annotations["output_2"].str.len()
    if not delta.std() > 0:
        # Equal length differences make alpaca_eval's standardised length NaN; the length term is then void.
        glm_info["formula"] = glm_info["formula"].replace("np.tanh(std_delta_len) + ", "")
    with offline_glm_assets(df_gamed_csv), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.8-1.9 deprecations inside alpaca_eval
        out = metrics.get_length_controlled_winrate(annotations.copy(), glm_name=glm_name, save_weights_dir=None,
                                                    is_warn_extreme_changes=False, glm_info=glm_info)
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in out.items()}


# ---- the evaluation ---------------------------------------------------------------------------------

def annotations_table(rows: Sequence[dict], model_outputs: Sequence[str], preferences: Sequence[float | None],
                      model_name: str, annotator: str) -> Any:
    import pandas as pd

    return pd.DataFrame({
        "instruction": [r["instruction"] for r in rows],
        "output_1": [r["output"] for r in rows],
        "output_2": list(model_outputs),
        "generator_1": [r["generator"] for r in rows],
        "generator_2": model_name,
        "annotator": annotator,
        "preference": [float("nan") if p is None else float(p) for p in preferences],
        "index": [r["index"] for r in rows],
    })


def evaluate(rows: Sequence[dict], model_outputs: Sequence[str], judge: Any, model_name: str, *,
             synthetic: bool, df_gamed: str | Path | None, work_dir: str | Path, progress: bool = True) -> dict:
    """Judge `model_outputs` against the references of `rows` and compute AlpacaEval 2's metrics."""
    import pandas as pd

    work_dir = Path(work_dir)
    annotations = judge.annotate([r["instruction"] for r in rows], [r["output"] for r in rows], model_outputs,
                                 progress=progress)
    prefs = [a.preference for a in annotations]
    table = annotations_table(rows, model_outputs, prefs, model_name, judge.name)
    table["raw_judgment"] = [a.raw for a in annotations]
    table["judge_error"] = [a.error for a in annotations]
    parsed = table[table["preference"].notna()].drop(columns=["raw_judgment", "judge_error"])
    n_unparsed = int(len(table) - len(parsed))
    if len(parsed) < 2:
        raise RuntimeError(f"only {len(parsed)} of {len(table)} judgments could be parsed; cannot score")

    df_gamed_path = None if synthetic else (Path(df_gamed) if df_gamed else find_cached_df_gamed())
    if df_gamed and not synthetic and not Path(df_gamed).exists():
        log.warning("--df-gamed %s: no such file (the download step fetches alpaca_eval's df_gamed.csv)", df_gamed)
    lc_exact = df_gamed_path is not None and Path(df_gamed_path).exists()
    if lc_exact:
        glm_name = "length_controlled_v1"  # the leaderboard's GLM, difficulties and gamed baselines
    else:
        # No instruction difficulties or gamed-baseline annotations: the same GLM without them, an
        # approximation of the leaderboard's LC win rate, labelled so in the result and the tables.
        if not synthetic:
            log.warning("no df_gamed.csv: the LC win rate is approximate (no instruction difficulty)")
        glm_name = "length_controlled_noreg"
        df_gamed_path = work_dir / "df_gamed_zero_difficulty.csv"
        synthetic_df_gamed(max(r["index"] for r in rows) + 1).to_csv(df_gamed_path, index=False)
    m = alpaca_metrics(parsed, df_gamed_path, glm_name)
    lengths = pd.Series(list(model_outputs)).str.len()
    n = int(len(parsed))
    metrics_out = {
        "lc_win_rate": {"value": m["length_controlled_winrate"], "stderr": m["lc_standard_error"], "n": n,
                        "metric": "length_controlled_winrate" if lc_exact else "length_controlled_winrate_approx",
                        "approx": not lc_exact},
        "win_rate": {"value": m["win_rate"], "stderr": m["standard_error"], "n": n, "metric": "win_rate"},
        "avg_length": {"value": float(lengths.mean()), "stderr": float(lengths.sem()) if len(lengths) > 1 else None,
                       "n": int(len(lengths)), "metric": "avg_length_chars"},
    }
    details = {"glm": glm_name, "df_gamed": str(df_gamed_path), "lc_exact": lc_exact, "judge": judge.name,
               "n_instructions": len(rows), "n_judged": n, "n_unparsed": n_unparsed,
               "n_wins": int(m["n_wins"]), "n_wins_base": int(m["n_wins_base"]), "n_draws": int(m["n_draws"]),
               "discrete_win_rate": m["discrete_win_rate"], "reference_generator": rows[0]["generator"]}
    return {"metrics": metrics_out, "details": details, "annotations": table}


def _load_generator(model_dir: str, backend: str = "auto") -> Callable[[list[list[dict]], dict], list[str]]:
    from gift.generation import make_generator
    from gift.pretrained import local_model

    # vLLM on the job's GPUs when installed, else the model on the GPU: never a 7B model on the CPU.
    # An untrained backbone comes as owner/name@revision: its directory in the hub cache (gift fetch).
    return make_generator(local_model(model_dir), backend=backend)


def make_judge(spec_text: str, cache_path: Path, api_key_env: str = "OPENAI_API_KEY") -> Any:
    """An AlpacaEval judge from ``--judge``; an API judge checks its key and its model here, before any generation."""
    from gift.evals import judges
    from gift.evals.alpaca_eval import judges as alpaca_judges
    spec = judges.parse_judge(spec_text, api_key_env)
    if spec.kind == "reward-model":
        return alpaca_judges.RewardModelAlpacaJudge(judges.reward_model_scorer(spec.target), name=spec.name)
    client = judges.make_client(spec, cache_path, config_key=JUDGE_CONFIG_KEY)
    client.check_model()
    return alpaca_judges.ApiAlpacaJudge(client)


def cli(argv: list[str]) -> int:
    """Entry point of `gift eval alpaca`."""
    from gift.evals.judges import add_judged_generation_args

    p = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift eval alpaca", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--model-id", help="name of the model in the results (default: the directory name)")
    p.add_argument("--instructions", required=True,
                   help="alpaca_eval.json / .jsonl (instruction, output, generator, dataset) or synthetic:N[:SEED]")
    p.add_argument("--judge", required=True, help="reward-model:DIR | api:weighted_alpaca_eval_gpt4_turbo | "
                                                  "api:MODEL@BASE_URL")
    p.add_argument("--out", required=True, help="result JSON (outputs and annotations are written beside it)")
    p.add_argument("--df-gamed", help="local copy of alpaca_eval's df_gamed.csv (official instruction set)")
    p.add_argument("--paper-judge", default=PAPER_JUDGE,
                   help="the judge behind the paper's numbers; the result says whether --judge is that judge")
    add_judged_generation_args(p, max_new_tokens=2048, limit_help="first N instructions only")
    args = p.parse_args(argv)
    args.argv = list(argv)
    from gift.evals.judge_client import JudgeError

    try:
        return run(args)
    except (JudgeError, FileNotFoundError) as err:  # a judge that cannot serve, a missing input: one message
        print(f"gift eval alpaca: {err}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, generator: Callable[[list[list[dict]], dict], list[str]] | None = None) -> int:
    """The body of `cli`; `generator` replaces the model's generation (tests)."""
    out = Path(args.out)
    stem = out.with_suffix("")
    log_ = file_logger("gift.evals.alpaca_eval.evaluate", stem.parent / f"{stem.name}.log")
    t0 = time.time()
    rows, synthetic = load_instructions(args.instructions, args.limit)
    cache = Path(args.cache) if args.cache else stem.parent / f"{stem.name}.judge_cache.jsonl"
    judge = make_judge(args.judge, cache, args.api_key_env)  # fails on a missing API key before generating
    model_id = args.model_id or Path(args.model).name
    log_.info("alpaca: %d instructions (synthetic=%s), model %s, judge %s", len(rows), synthetic, model_id,
              judge.name)
    outputs_path = stem.parent / f"{stem.name}.outputs.json"
    key = hashlib.sha256(json.dumps([args.model, args.instructions, args.limit, args.max_new_tokens,
                                     args.temperature, args.seed]).encode()).hexdigest()[:16]
    outputs = None
    produced: dict = {}  # the engine and sampling parameters that produced the outputs
    if outputs_path.exists():
        saved = read_json(outputs_path)
        if isinstance(saved, dict) and saved.get("key") == key:
            outputs = [r["output"] for r in saved["rows"]]
            produced = {"generation_engine": saved.get("generation_engine"), "sampling": saved.get("sampling")}
            log_.info("reusing %d saved outputs from %s", len(outputs), outputs_path)
    t_gen = time.time()
    if outputs is None:
        gen = generator or _load_generator(args.model, getattr(args, "backend", "auto"))
        kwargs = {"temperature": args.temperature or 1.0, "greedy": args.temperature == 0,
                  "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "seed": args.seed}
        outputs = gen([[{"role": "user", "content": r["instruction"]}] for r in rows], kwargs)
        if len(outputs) != len(rows):
            raise RuntimeError(f"generation returned {len(outputs)} outputs for {len(rows)} instructions")
        outputs = [o if isinstance(o, str) else "" for o in outputs]
        produced = {"generation_engine": getattr(gen, "engine", None), "sampling": getattr(gen, "sampling", None)}
        write_json(outputs_path, {"key": key, **produced, "rows": [
            {"instruction": r["instruction"], "output": o, "generator": model_id, "dataset": r["dataset"]}
            for r, o in zip(rows, outputs, strict=True)]})
    gen_s = time.time() - t_gen
    t_judge = time.time()
    result = evaluate(rows, outputs, judge, model_id, synthetic=synthetic, df_gamed=args.df_gamed,
                      work_dir=out.parent, progress=not args.no_progress)
    judge_s = time.time() - t_judge
    annotations = result.pop("annotations")
    ann_path = stem.parent / f"{stem.name}.annotations.jsonl"
    write_jsonl(ann_path, (
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in annotations.to_dict(orient="records")))
    details = result["details"]
    from gift.evals.arena_hard.evaluate import paper_judge_record

    details.update(paper_judge_record(args.judge, getattr(args, "paper_judge", PAPER_JUDGE)))
    details.update({"outputs": str(outputs_path), "annotations": str(ann_path), "instructions": args.instructions,
                    "generation": {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
                                   "seed": args.seed},
                    **produced,
                    "wall_s": {"generation": round(gen_s, 2), "judge_and_metrics": round(judge_s, 2),
                               "total": round(time.time() - t0, 2)}})
    if hasattr(judge, "client"):
        details["judge_api"] = judge.client.stats()
    doc = {"model": model_id, "model_path": str(args.model), "eval": "alpaca_eval", "metrics": result["metrics"],
           "details": details, "provenance": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                              "git_commit": git_commit(), "versions": package_versions(),
                                              "argv": ["gift", "eval", "alpaca", *getattr(args, "argv", [])]}}
    write_json(out, doc)
    m = result["metrics"]
    log_.info("LC win rate %.2f (se %.2f), win rate %.2f (se %.2f), avg length %.0f, unparsed %d",
              m["lc_win_rate"]["value"], m["lc_win_rate"]["stderr"], m["win_rate"]["value"],
              m["win_rate"]["stderr"], m["avg_length"]["value"], details["n_unparsed"])
    print(json.dumps({k: v["value"] for k, v in m.items()}))
    return 0
