"""Table 2's lm-eval tasks (paper names or local twins) on one model, summarised in the suite's eval-result JSON.

Two task sets:

- ``paper``: the tasks and metrics of docs/evaluation.md#lm-eval-benchmarks-table-2 by their lm-eval names,
  on the hub datasets. MBPP is ``mbpp_sandboxed``: upstream's ``mbpp`` prompt and data with pass@1
  computed by ``gift.sandbox`` instead of ``evaluate``'s ``code_eval`` (which needs the Hub and is no sandbox).
- ``twins:DIR``: twins of the seven tasks made by ``--materialise-twins DIR``: each ``include:``s the
  installed upstream YAML by absolute path and swaps in synthetic data files in the real schema, so
  upstream prompts, filters and metrics run unchanged. The MBPP twin copies upstream's keys instead
  of including them (see ``gift/assets/lm_eval/mbpp/mbpp_twin.yaml``).

GPQA and MuSR are lm-eval groups whose ``acc_norm`` is the mean of their subtasks weighted by size,
as upstream's ``aggregate_metric_list`` says; the summary recomputes that mean from the subtasks and
reports any disagreement with lm-eval's own group value.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as _dt
import json
import logging
import math
import os
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gift.assets import asset_path
from gift.io import atomic_path, git_commit, package_versions, read_json, write_json, write_jsonl, write_text

log = logging.getLogger(__name__)

# The templates of the twins and of mbpp_sandboxed, shipped in the package.
TEMPLATES_DIR = asset_path("lm_eval")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE")


@dataclass(frozen=True)
class Table2Task:
    """One column of Table 2: its metric key, the lm-eval task (paper and twin) and the metric read."""

    key: str
    paper_task: str
    twin_task: str
    metric: str
    group: bool = False


TABLE2_TASKS: tuple[Table2Task, ...] = (
    Table2Task("truthfulqa", "truthfulqa_mc2", "truthfulqa_mc2_twin", "acc"),
    Table2Task("bbq", "bbq", "bbq_twin", "acc"),
    Table2Task("mbpp", "mbpp_sandboxed", "mbpp_twin", "pass_at_1"),
    Table2Task("arc_challenge", "arc_challenge", "arc_challenge_twin", "acc_norm"),
    Table2Task("winogender", "winogender_all", "winogender_all_twin", "acc"),
    Table2Task("gpqa", "leaderboard_gpqa", "leaderboard_gpqa_twin", "acc_norm", group=True),
    Table2Task("musr", "leaderboard_musr", "leaderboard_musr_twin", "acc_norm", group=True),
)

# MBPP's task YAMLs are built from upstream's keys plus these overrides (not `include:`d, see module doc).
_MBPP_UPSTREAM = "mbpp/mbpp.yaml"
_MBPP_UTILS = "utils.py"


def upstream_tasks_dir() -> Path:
    """The installed lm-eval's task folder (``lm_eval/tasks``)."""
    import lm_eval

    return Path(lm_eval.__file__).resolve().parent / "tasks"


def _offline(tasks: str, online: bool) -> bool:
    """Twins never touch the hub; the paper's tasks read their datasets from the cache `gift fetch` filled, and
    from the hub only when it is reachable and no offline variable is set (forcing offline with nothing cached
    would fail every task)."""
    if tasks.startswith("twins:"):
        return True
    if online:
        return False
    from gift.data.loading import hub_offline_reason

    return hub_offline_reason() is not None


def set_offline(offline: bool = True) -> None:
    """Keep the Hugging Face libraries off the network (datasets, hub, evaluate); set before they import."""
    if offline:
        for var in OFFLINE_VARIABLES:
            os.environ[var] = "1"
    else:
        os.environ["HF_EVALUATE_OFFLINE"] = "1"  # the suite never needs `evaluate`'s hub metrics


# ----------------------------------------------------------------------------- MBPP metric

SANDBOX_STATUS: Counter = Counter()  # how each sandboxed MBPP program ended, for the report


def sandboxed_pass_at_1(references: list[str] | str, predictions: list[str] | list[list[str]] | str,
                        timeout_s: float = 10.0) -> float:
    """pass@1 of one generated program: 1.0 when `prediction + "\\n" + reference` runs to its end in the sandbox.

    The reference is the task's target: the problem's ``test_setup_code`` and then its asserts.

    Mirrors lm-eval's mbpp metric (code_eval joins candidate and test the same way) with
    ``gift.sandbox.execute`` as the executor. Untrusted output never raises: anything that is not a
    program, or any sandbox error other than a missing isolation layer, scores 0 and is counted.
    """
    from gift.sandbox import SandboxUnavailable, execute

    refs = [references] if isinstance(references, str) else list(references)
    preds = [predictions] if isinstance(predictions, str) else list(predictions)
    if preds and isinstance(preds[0], list):  # code_eval's shape: one list of candidates per problem
        preds = [p[0] if p else "" for p in preds]
    if len(refs) != 1 or len(preds) != 1:
        SANDBOX_STATUS["bad_input"] += 1
        log.warning("pass_at_1 expects one reference and one prediction, got %d and %d", len(refs), len(preds))
        return 0.0
    code, tests = preds[0], refs[0]
    if not isinstance(code, str) or not isinstance(tests, str):
        SANDBOX_STATUS["bad_input"] += 1
        return 0.0
    try:
        result = execute(code + "\n" + tests, timeout_s=timeout_s)
    except SandboxUnavailable:
        raise  # a host problem, not the model's: never run model code with less isolation
    except Exception as err:  # noqa: BLE001 - the sandbox failing on odd input must not end the evaluation
        SANDBOX_STATUS["error"] += 1
        log.warning("sandbox error on an MBPP program (%s: %s); scored 0", type(err).__name__, err)
        return 0.0
    SANDBOX_STATUS[result.status] += 1
    return 1.0 if result.passed else 0.0


def upstream_mbpp_fewshot_samples(tasks_dir: Path | None = None) -> list[dict]:
    """The few-shot examples that upstream's ``mbpp/utils.py:list_fewshot_samples`` returns, read from its
    source with ``ast`` (importing that module would call ``evaluate.load("code_eval")``)."""
    path = (tasks_dir or upstream_tasks_dir()) / "mbpp" / "utils.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "list_fewshot_samples":
            returns = [n for n in ast.walk(node) if isinstance(n, ast.Return)]
            if len(returns) == 1 and returns[0].value is not None:
                return ast.literal_eval(returns[0].value)
    raise RuntimeError(f"{path}: list_fewshot_samples() is no longer a single literal return; "
                       "update gift.evals.lm_eval_runner.upstream_mbpp_fewshot_samples")


# ----------------------------------------------------------------------------- task materialisation

class _FunctionRef(str):
    """A YAML ``!function name`` kept as a reference (not imported) while copying task YAMLs."""


def _function_loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: _FunctionRef(loader.construct_scalar(node)))
    return Loader


def _function_dumper() -> type[yaml.SafeDumper]:
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_FunctionRef, lambda dumper, ref: dumper.represent_scalar("!function", str(ref)))
    return Dumper


def _function_refs(obj: Any) -> list[str]:
    if isinstance(obj, _FunctionRef):
        return [str(obj)]
    if isinstance(obj, dict):
        return [r for v in obj.values() for r in _function_refs(v)]
    if isinstance(obj, list):
        return [r for v in obj for r in _function_refs(v)]
    return []


def _quote_safe(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\\\n'):
        raise ValueError(f"path {text!r} cannot be written into a task YAML (contains a quote, backslash or newline)")
    return text


def build_mbpp_yaml(overrides_text: str, tasks_dir: Path, utils_source: str) -> str:
    """Upstream ``mbpp.yaml``'s keys with `overrides_text` applied, as YAML text.

    Fails, naming the function, if the result still refers to a ``!function`` that the suite's
    ``utils.py`` does not define (an upstream change the twin must follow).
    """
    upstream_path = tasks_dir / _MBPP_UPSTREAM
    upstream = yaml.load(upstream_path.read_text(encoding="utf-8"), Loader=_function_loader())  # noqa: S506
    if not isinstance(upstream, dict) or "include" in upstream:
        raise RuntimeError(f"{upstream_path}: expected a flat task YAML without include:")
    overrides = yaml.load(overrides_text, Loader=_function_loader())  # noqa: S506
    merged = {**upstream, **overrides}
    defined = {n.name for n in ast.parse(utils_source).body if isinstance(n, ast.FunctionDef)}
    missing = [ref for ref in _function_refs(merged) if not ref.startswith("utils.") or ref[6:] not in defined]
    if missing:
        raise RuntimeError(f"MBPP task from {upstream_path} uses functions the suite's mbpp utils.py does not "
                           f"define: {missing}")
    header = (f"# Built from {upstream_path} (lm-eval's mbpp task) with the suite's overrides;\n"
              "# pass@1 runs in gift.sandbox. Do not edit: regenerate with gift eval lm-eval.\n")
    return header + yaml.dump(merged, Dumper=_function_dumper(), sort_keys=False, allow_unicode=True, width=10_000)


def _write_task_folder(tasks_out: Path, folder: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        write_text(tasks_out / folder / name, text)


def materialise_twins(out_dir: str | Path, seed: int, n: int, templates_dir: Path = TEMPLATES_DIR) -> dict:
    """Write the seven twins to `out_dir`: ``data/`` (synthetic JSONL in each benchmark's schema),
    ``tasks/`` (twin YAMLs with absolute paths to the installed upstream YAMLs and to the data) and
    ``twins.json`` (what was made). The folder appears whole or not at all. Returns the manifest."""
    from gift.evals.lm_eval_data import write_twin_data

    final = Path(out_dir).resolve()
    tasks_dir = upstream_tasks_dir()
    # The datasets cache lives in the twin folder: it goes when the twins are remade, and ~/.cache stays clean.
    subst = {"LM_EVAL_TASKS": _quote_safe(tasks_dir), "DATA": _quote_safe(final / "data"),
             "CACHE": _quote_safe(final / "datasets_cache")}
    with atomic_path(final) as tmp:
        tmp.mkdir(parents=True)
        files = write_twin_data(tmp / "data", seed=seed, n=n)
        files = {k: {s: str(final / Path(p).relative_to(tmp)) for s, p in v.items()} for k, v in files.items()}
        written = []
        for folder in sorted(p for p in templates_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            out: dict[str, str] = {}
            if folder.name == "mbpp":
                utils_source = (folder / _MBPP_UTILS).read_text(encoding="utf-8")
                overrides = string.Template((folder / "mbpp_twin.yaml").read_text(encoding="utf-8")).substitute(subst)
                out["mbpp_twin.yaml"] = build_mbpp_yaml(overrides, tasks_dir, utils_source)
                out[_MBPP_UTILS] = utils_source
            else:
                for template in sorted(folder.glob("*.yaml")):
                    out[template.name] = string.Template(template.read_text(encoding="utf-8")).substitute(subst)
                    included = yaml.safe_load(out[template.name].replace("!function", "")).get("include")
                    if included and not Path(included).is_file():
                        raise FileNotFoundError(f"{template}: the upstream task YAML {included} is not in the "
                                                f"installed lm-eval {tasks_dir}")
            _write_task_folder(tmp / "tasks", folder.name, out)
            written += [f"{folder.name}/{name}" for name in out]
        manifest = {"kind": "lm_eval_twins", "seed": seed, "n": n, "tasks": [t.twin_task for t in TABLE2_TASKS],
                    "task_files": written, "data_files": files, "upstream_tasks_dir": str(tasks_dir),
                    "versions": {"lm_eval": package_versions().get("lm_eval")},
                    "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        write_json(tmp / "twins.json", manifest)
    return manifest


def materialise_paper_tasks(out_dir: str | Path, templates_dir: Path = TEMPLATES_DIR) -> Path:
    """Write the one task the paper set adds to lm-eval's own (``mbpp_sandboxed``) under `out_dir`."""
    final = Path(out_dir).resolve()
    folder = templates_dir / "mbpp"
    utils_source = (folder / _MBPP_UTILS).read_text(encoding="utf-8")
    text = build_mbpp_yaml((folder / "mbpp_sandboxed.yaml").read_text(encoding="utf-8"), upstream_tasks_dir(),
                           utils_source)
    with atomic_path(final) as tmp:
        _write_task_folder(tmp, "mbpp", {"mbpp_sandboxed.yaml": text, _MBPP_UTILS: utils_source})
    return final


def resolve_task_set(spec: str, work_dir: Path) -> tuple[list[str], Path, bool, dict[str, str]]:
    """(lm-eval task names, include_path, include_defaults, {metric key: task}) for `paper` or `twins:DIR`."""
    if spec == "paper":
        include = materialise_paper_tasks(work_dir / "lm_eval_tasks")
        names = {t.key: t.paper_task for t in TABLE2_TASKS}
        return list(names.values()), include, True, names
    if spec.startswith("twins:"):
        root = Path(spec.removeprefix("twins:")).expanduser().resolve()
        if not (root / "twins.json").is_file():
            raise FileNotFoundError(f"{root} holds no twins.json: make the twins first with "
                                    f"`gift eval lm-eval --materialise-twins {root} --seed S --n N`")
        names = {t.key: t.twin_task for t in TABLE2_TASKS}
        return list(names.values()), root / "tasks", False, names
    raise ValueError(f"--tasks must be 'paper' or 'twins:DIR', got {spec!r}")


def task_manager(include_path: Path, include_defaults: bool):
    """lm-eval's TaskManager over `include_path` (twins index only their own folder: fast, no clashes)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(include_path), include_defaults=include_defaults)


# ----------------------------------------------------------------------------- summary

def size_weighted_mean(values: list[float], sizes: list[int]) -> float:
    """Mean of subtask scores weighted by subtask size (lm-eval's ``weight_by_size: true``)."""
    if len(values) != len(sizes) or not values or sum(sizes) <= 0:
        raise ValueError(f"need matching non-empty values and positive sizes, got {values} and {sizes}")
    return sum(v * s for v, s in zip(values, sizes, strict=True)) / sum(sizes)


def _number(x: Any) -> float | None:
    if isinstance(x, int | float) and not (isinstance(x, float) and math.isnan(x)):
        return float(x)
    return None


def _percent(x: Any) -> float | None:
    v = _number(x)
    return None if v is None else 100.0 * v


def summarise(results: dict, task_names: dict[str, str]) -> tuple[dict[str, dict], dict]:
    """Table 2 metrics from lm-eval's results dict: {key: {value (percent), stderr, n, metric, task}}
    and details (versions, n-shot, group subtasks, aggregation checks)."""
    by_key = {t.key: t for t in TABLE2_TASKS}
    res, n_samples = results.get("results", {}), results.get("n-samples", {})
    metrics: dict[str, dict] = {}
    details: dict[str, Any] = {"versions": results.get("versions", {}), "n_shot": results.get("n-shot", {}),
                               "groups": {}, "aggregation_mismatch": {}}
    for key, task in task_names.items():
        spec = by_key[key]
        metric_key, stderr_key = f"{spec.metric},none", f"{spec.metric}_stderr,none"
        if task not in res:
            raise KeyError(f"lm-eval returned no result for task {task!r} (metric {key}); got {sorted(res)}")
        entry: dict[str, Any] = {"metric": spec.metric, "task": task}
        if spec.group:
            subtasks = list(results.get("group_subtasks", {}).get(task, []))
            if not subtasks:
                raise KeyError(f"lm-eval reported no subtasks for group {task!r}")
            values = [_number(res[s].get(metric_key)) for s in subtasks]
            sizes = [int(n_samples[s]["effective"]) for s in subtasks]
            if any(v is None for v in values):
                raise ValueError(f"group {task!r}: a subtask lacks {metric_key}: {dict(zip(subtasks, values, strict=True))}")
            weighted = size_weighted_mean(values, sizes)
            upstream = _number(res[task].get(metric_key))
            if upstream is None or abs(upstream - weighted) > 1e-9:
                details["aggregation_mismatch"][task] = {"lm_eval": upstream, "size_weighted": weighted}
                log.warning("group %s: lm-eval's %s %s differs from the size-weighted mean %s", task,
                            spec.metric, upstream, weighted)
            entry.update(value=100.0 * weighted, stderr=_percent(res[task].get(stderr_key)), n=sum(sizes))
            entry["subtasks"] = {s: {"value": 100.0 * v, "n": k, "stderr": _percent(res[s].get(stderr_key)),
                                     "version": results.get("versions", {}).get(s)}
                                 for s, v, k in zip(subtasks, values, sizes, strict=True)}
            details["groups"][task] = subtasks
        else:
            value = _number(res[task].get(metric_key))
            if value is None:
                raise ValueError(f"task {task!r}: no numeric {metric_key} in lm-eval's result {res[task]}")
            entry.update(value=100.0 * value, stderr=_percent(res[task].get(stderr_key)),
                         n=int(n_samples[task]["effective"]))
        entry.setdefault("version", results.get("versions", {}).get(task))  # groups: "N/A", see subtasks
        entry["n_shot"] = results.get("n-shot", {}).get(task)
        metrics[key] = entry
    return metrics, details


# ----------------------------------------------------------------------------- evaluation

def pick_backend(backend: str, device: str) -> str:
    """`hf` or `vllm`: `auto` takes vLLM only when it imports and the device is a GPU."""
    if backend in {"hf", "vllm"}:
        return backend
    if backend != "auto":
        raise ValueError(f"--backend must be auto, hf or vllm, got {backend!r}")
    if device.startswith("cuda"):
        with contextlib.suppress(ImportError):
            import vllm  # noqa: F401

            return "vllm"
    return "hf"


def run_lm_eval(model_path: str | Path, tasks: str, out: str | Path, *, model_id: str | None = None,
                batch_size: int | str = 8, limit: int | float | None = None, device: str = "cpu",
                backend: str = "auto", apply_chat_template: bool = False, seed: int = 0,
                online: bool = False, model_args: dict | None = None) -> dict:
    """Evaluate a ``from_pretrained`` model directory on Table 2's lm-eval tasks and write `out`.

    Beside `out` (``.../lm_eval.json``) it keeps lm-eval's raw results (``lm_eval.raw.json``), the
    per-sample records (``lm_eval.samples.jsonl``) and a log. Returns the eval-result dict.
    """
    set_offline(_offline(tasks, online))
    out = Path(out)
    stem = out.with_suffix("")
    logger = logging.getLogger("gift.evals.lm_eval")
    from gift.io import file_logger

    file_logger("gift.evals.lm_eval", stem.with_suffix(".log"))
    model_path = Path(model_path)
    if not (model_path / "config.json").is_file():
        raise FileNotFoundError(f"model directory {model_path} has no config.json (a from_pretrained directory)")

    names, include_path, include_defaults, key_to_task = resolve_task_set(tasks, out.parent)
    sandbox_report = None
    if "mbpp" in key_to_task:
        from gift.sandbox import require_isolation

        # Before any model loads: refuses unless full isolation or weaker containment was accepted.
        sandbox_report = require_isolation()
        logger.warning("MBPP sandbox mode %s%s", sandbox_report["mode"],
                       "" if sandbox_report["full"] else f" (weaker containment: missing {sandbox_report['missing']})")
    import lm_eval

    backend = pick_backend(backend, device)
    args = {"pretrained": str(model_path.resolve()), "dtype": "float32" if device == "cpu" else "auto"}
    args.update(model_args or {})
    logger.info("lm-eval %s on %s: tasks %s (%s), backend %s, limit %s", lm_eval.__version__ if hasattr(
        lm_eval, "__version__") else "", model_path, tasks, names, backend, limit)
    SANDBOX_STATUS.clear()
    start = time.perf_counter()
    results = lm_eval.simple_evaluate(
        model=backend, model_args=args, tasks=names, task_manager=task_manager(include_path, include_defaults),
        batch_size=batch_size, device=device if backend == "hf" else None, limit=limit, log_samples=True,
        apply_chat_template=apply_chat_template, confirm_run_unsafe_code=True,
        random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
    )
    wall = time.perf_counter() - start
    if results is None:
        raise RuntimeError("lm-eval returned no results (non-zero rank?)")
    samples = results.pop("samples", {}) or {}
    from lm_eval.utils import handle_non_serializable

    write_text(stem.with_suffix(".raw.json"), json.dumps(results, indent=2, default=handle_non_serializable) + "\n")
    write_jsonl(stem.with_suffix(".samples.jsonl"),
                ({"task": task, **json.loads(json.dumps(s, default=handle_non_serializable))}
                 for task, rows in samples.items() for s in rows))
    metrics, details = summarise(results, key_to_task)
    details.update(tasks=tasks, backend=backend, limit=limit, batch_size=batch_size, device=device,
                   apply_chat_template=apply_chat_template, seed=seed, wall_time_s=round(wall, 2),
                   sandbox_status=dict(SANDBOX_STATUS), sandbox=sandbox_report, raw_results=stem.with_suffix(".raw.json").name,
                   samples=stem.with_suffix(".samples.jsonl").name)
    if tasks.startswith("twins:"):
        details["twins"] = read_json(Path(tasks.removeprefix("twins:")) / "twins.json")
    record = {"model": model_id or model_path.name, "model_path": str(model_path.resolve()), "eval": "lm_eval",
              "metrics": metrics, "details": details,
              "provenance": {"created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                             "git_commit": git_commit(), "versions": package_versions(), "argv": sys.argv}}
    write_json(out, record)
    logger.info("lm-eval done in %.1f s: %s", wall, {k: round(v["value"], 2) for k, v in metrics.items()})
    return record


# ----------------------------------------------------------------------------- command line

def _limit(text: str) -> int | float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--limit must be positive, got {text}")
    return int(value) if value >= 1 else value


def _batch(text: str) -> int | str:
    return text if text.startswith("auto") else int(text)


def cli(argv: list[str]) -> int:
    """``gift eval lm-eval``: materialise the twins, or evaluate a model on the paper tasks or twins."""
    p = argparse.ArgumentParser(prog="gift eval lm-eval", description=__doc__.splitlines()[0])
    p.add_argument("--materialise-twins", "--materialize-twins", metavar="DIR", type=Path,
                   help="write the synthetic data and twin YAMLs to DIR and exit")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (with --materialise-twins) "
                   "and of lm-eval's samplers")
    p.add_argument("--n", type=int, default=20, help="rows per twin task (largest GPQA/MuSR subset)")
    p.add_argument("--model", type=Path, help="a from_pretrained model directory")
    p.add_argument("--model-id", help="the model's name in results (default: the directory name)")
    p.add_argument("--tasks", default="paper", help="'paper' or 'twins:DIR'")
    p.add_argument("--out", type=Path, help="the eval-result JSON to write (results/.../evals/<model_id>/lm_eval.json)")
    p.add_argument("--batch-size", type=_batch, default=8)
    p.add_argument("--limit", type=_limit, help="documents per task (an int) or fraction (< 1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", default="auto", choices=("auto", "hf", "vllm"))
    p.add_argument("--apply-chat-template", action="store_true", help="wrap prompts in the model's chat template")
    p.add_argument("--online", action="store_true", help="allow hub downloads (paper tasks only)")
    args = p.parse_args(argv)

    if args.materialise_twins:
        manifest = materialise_twins(args.materialise_twins, seed=args.seed, n=args.n)
        print(f"twins written to {args.materialise_twins}: {len(manifest['task_files'])} task files, "
              f"{sum(len(v) for v in manifest['data_files'].values())} data files")
        return 0
    if args.model is None or args.out is None:
        p.error("--model and --out are required unless --materialise-twins is given")
    from gift.hub import HubUnavailableError, local_model

    try:
        # an untrained backbone comes as owner/name@revision: its directory in the hub cache (gift fetch)
        model = local_model(str(args.model))
    except (HubUnavailableError, FileNotFoundError) as err:
        print(f"gift eval lm-eval: --model {args.model}: {err}", file=sys.stderr)
        return 2
    set_offline(_offline(args.tasks, args.online))
    try:
        record = run_lm_eval(model, args.tasks, args.out, model_id=args.model_id, batch_size=args.batch_size,
                             limit=args.limit, device=args.device, backend=args.backend,
                             apply_chat_template=args.apply_chat_template, seed=args.seed, online=args.online)
    except (ConnectionError, FileNotFoundError) as err:
        if args.tasks.startswith("twins:"):
            raise
        print(f"gift eval lm-eval: a task's dataset is neither cached nor reachable ({type(err).__name__}: "
              f"{str(err)[:300]}); run `gift fetch --config CONFIG` where the hub is reachable, with the same "
              "HF_HOME as this job", file=sys.stderr)
        return 2
    for key, m in record["metrics"].items():
        err = f" ± {m['stderr']:.2f}" if m["stderr"] is not None else ""
        print(f"{key:<14} {m['value']:6.2f}{err}  (n={m['n']}, {m['task']} {m['metric']})")
    return 0


__all__ = ["TABLE2_TASKS", "Table2Task", "cli", "materialise_paper_tasks", "materialise_twins", "run_lm_eval",
           "sandboxed_pass_at_1", "size_weighted_mean", "summarise", "upstream_mbpp_fewshot_samples"]
