"""`gift doctor --config CONFIG`: a preflight of this machine against what the config's jobs need.

One table, a row per check, ok or MISSING with the fix: GPUs and their memory against every run's memory
arithmetic (gift.gpu_memory), installed package versions against the suite's pinned ranges (with the `gpu`
extra for GPU configs), a C++ compiler where DeepSpeed's CPU Adam (ZeRO-3 with the optimizer offloaded) builds
its kernel at first use, the judges' API key and model, hub access to every model and dataset (gated ones
included; a fetched copy in the cache counts), free disk against the checkpoints and outputs `gift
estimate` counts, and the sandbox's isolation layers. Exit code 0 only when every row is ok.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gift import grid as gift_grid
from gift.cli import HelpFormatter


@dataclass
class Check:
    """One row of the table."""

    area: str
    item: str
    ok: bool
    detail: str
    fix: str = ""
    # the jobs that need this check: "" for every compute job, else e.g. "alpaca_eval" (its evaluations alone)
    only_for: str = ""


@dataclass
class Probes:
    """What doctor asks of the machine; tests replace any of these (there is no GPU, hub or API here)."""

    gpus: Callable[[], list[tuple[str, float]]]
    free_gb: Callable[[Path], float]
    hub_access: Callable[[Any], str | None]  # a gift.hub.fetch.Need -> None (ok) or why not
    judge: Callable[[str], str | None]  # a judge spec -> None (answers) or why not
    sandbox: Callable[[], dict]
    version: Callable[[str], str | None]
    compiler: Callable[[], str | None] = lambda: _compiler()  # the C++ compiler found, or None


def _gpus() -> list[tuple[str, float]]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory / 1e9)
            for i in range(torch.cuda.device_count())]


def _free_gb(path: Path) -> float:
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free / 1e9


def _hub_access(need: Any) -> str | None:
    """None when this machine can read `need` (a cached snapshot, or the hub grants access), else why not."""
    from huggingface_hub import snapshot_download

    repo_type = "dataset" if need.kind == "dataset" else "model"
    try:
        snapshot_download(need.source, repo_type=repo_type, revision=need.revision, local_files_only=True)
        return None
    except Exception:  # noqa: BLE001 - not cached: ask the hub below
        pass
    from gift.data.loading import hub_reachable

    if not hub_reachable():
        return "not in the hub cache and the hub is unreachable"
    try:
        from huggingface_hub import auth_check

        auth_check(need.source, repo_type=repo_type)
        return None
    except Exception as err:  # noqa: BLE001 - gated, missing or no token: reported with its class name
        return f"{type(err).__name__}: {str(err)[:200]}"


def _judge(spec_text: str) -> str | None:
    from gift.evals import judges

    try:
        spec = judges.parse_judge(spec_text)
        if spec.kind != "api":
            return None
        client = judges.make_client(spec, Path(tempfile.mkdtemp()) / "doctor-cache.jsonl")
        answered = client.check_model()
        return None if answered is not False else "the server does not list the model"
    except Exception as err:  # noqa: BLE001 - key missing, model unknown, server down: all reported
        return f"{type(err).__name__}: {str(err)[:300]}"


def _sandbox() -> dict:
    from gift.sandbox.runner import isolation_report

    try:
        return isolation_report()
    except Exception as err:  # noqa: BLE001 - no sandbox at all
        return {"mode": None, "layers": [], "missing": [f"any sandbox ({err})"]}


def _compiler() -> str | None:
    """The C++ compiler torch's extension builder would use ($CXX, else c++), or None."""
    return shutil.which(os.environ.get("CXX") or "c++")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def default_probes() -> Probes:
    return Probes(gpus=_gpus, free_gb=_free_gb, hub_access=_hub_access, judge=_judge, sandbox=_sandbox,
                  version=_version)


def requirements(gpu: bool) -> list[str]:
    """The suite's pinned requirements (pyproject.toml of this checkout, else the installed metadata)."""
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return list(meta["dependencies"]) + (list(meta["optional-dependencies"]["gpu"]) if gpu else [])
    reqs = importlib.metadata.requires("gift") or []
    return [r.split(";")[0] for r in reqs if "extra ==" not in r or (gpu and "extra == \"gpu\"" in r)]


def run_checks(config: dict, probes: Probes | None = None, results_dir: str | Path | None = None) -> list[Check]:
    """Every check for `config` on this machine."""
    from packaging.requirements import Requirement

    from gift import estimate, gpu_memory
    from gift.hub import fetch

    p = probes or default_probes()
    grid = gift_grid.expand(config)
    gpu_config = config.get("device") == "gpu"
    rows: list[Check] = []

    # GPUs: count and memory against each run's needs
    if gpu_config:
        gpus = p.gpus()
        need_n = max((gift_grid.job_resources(grid, r.backbone, "train")["gpu"] for r in grid.runs.values()), default=0)
        if len(gpus) < need_n:
            rows.append(Check("gpu", "count", False, f"{len(gpus)} GPU(s) visible, the training runs need {need_n}",
                              "run doctor where the training jobs run, e.g. on a node of the training partition: "
                              f"srun --nodes=1 --gpus={need_n} gift doctor --config CONFIG"))
        else:
            rows.append(Check("gpu", "count", True, f"{len(gpus)} x {gpus[0][0]}" if gpus else "none needed"))
        if gpus:
            mem = min(g for _, g in gpus)
            bad = [(r, plan) for r in grid.runs if not (plan := gpu_memory.run_memory(grid, r, gpu_gb=mem)).ok]
            worst = max((gpu_memory.run_memory(grid, r, gpu_gb=mem) for r in grid.runs),
                        key=lambda plan: plan.resident_gb + plan.vllm_gb, default=None)
            detail = (f"{mem:.0f} GB per GPU; largest need {worst.resident_gb + worst.vllm_gb:.1f} GB ({worst.run_id})"
                      if worst else f"{mem:.0f} GB per GPU")
            rows.append(Check("gpu", "memory", not bad, detail if not bad else f"{len(bad)} run(s) do not fit: "
                              + "; ".join(f"{r}: {plan.problems[0]}" for r, plan in bad[:3]),
                              "" if not bad else "use 80 GB GPUs, or change the backbones' vllm_* settings"))

    # every colocated vLLM engine within vLLM's scheduler rule, on the processes the batch sizes are derived for
    world = int((config.get("estimate") or {}).get("num_processes") or 1)
    engines = [r for r in gift_grid.resolved_runs(grid, world) if r.get("vllm")]
    if engines:
        refused = [r for r in engines if r["vllm"].get("problem")]
        most = max(engines, key=lambda r: r["vllm"]["max_num_seqs"])
        rows.append(Check("vllm", "scheduler budget", not refused,
                          f"{len(engines)} run(s) roll out with vLLM on {world} process(es); largest max_num_seqs "
                          f"{most['vllm']['max_num_seqs']} with max_num_batched_tokens "
                          f"{most['vllm']['max_num_batched_tokens']} ({most['run_id']})" if not refused else
                          f"{len(refused)} run(s) would not start their engine, e.g. {refused[0]['run_id']}: "
                          f"{refused[0]['vllm']['problem']}",
                          "" if not refused else "lower rollout_batch_prompts or the vLLM tensor parallel size"))

    # mixtures of experts: what each count means (gift estimate's FLOPs vs the memory plan and disk)
    for name in grid.backbones_used():
        spec = config["backbones"][name]
        if spec.get("active_params_b"):
            total, active = float(spec.get("params_b") or 0), float(spec["active_params_b"])
            ok = 0 < active <= total
            rows.append(Check("model", f"{name}: mixture of experts", ok,
                              f"{active:g}B of {total:g}B parameters active per token: gift estimate's FLOPs count "
                              f"{active:g}B, the memory plan, checkpoints and downloads {total:g}B",
                              "" if ok else f"backbones.{name}.active_params_b must be in (0, params_b]"))

    # packages against the pinned ranges
    for text in requirements(gpu_config):
        req = Requirement(text)
        have = p.version(req.name)
        ok = have is not None and req.specifier.contains(have, prereleases=True)
        rows.append(Check("package", req.name, ok, f"{have or 'not installed'} (needs {req.specifier or 'any'})",
                          "" if ok else f"pip install '{text}'" + (" (the gpu extra: pip install -e '.[gpu]')"
                                                                    if gpu_config else "")))

    # DeepSpeedCPUAdam: the optimizer of ZeRO-3 with offload_optimizer_device: cpu, JIT-compiled on first use
    offloading = sorted({b for b in grid.backbones_used() if (accel := config["backbones"][b].get("accelerate"))
                         and _cpu_adam(accel)})
    if gpu_config and offloading:
        found = p.compiler()
        rows.append(Check("compiler", "DeepSpeedCPUAdam", found is not None,
                          f"{found} (builds DeepSpeed's CPU Adam at the first step of {', '.join(offloading)})"
                          if found else f"no C++ compiler ($CXX or c++): the first step of {', '.join(offloading)} "
                          "(ZeRO-3, optimizer on the CPU) compiles DeepSpeed's CPU Adam and would fail",
                          "" if found else "install g++ on the training nodes (or load its module in the job), or "
                          "prebuild the op: DS_BUILD_CPU_ADAM=1 pip install deepspeed"))

    # judges: API key and model (needed by the judge evaluations alone)
    rows += judge_checks(config, grid, p)

    # hub access (gated items included)
    for need in fetch.needs(config):
        if need.kind not in ("model", "dataset"):
            continue
        why = p.hub_access(need)
        rows.append(Check("hub", f"{need.kind} {need.source}", why is None, why or f"readable @ {need.revision}",
                          "" if why is None else "run `gift fetch --config CONFIG`; for a gated repository request "
                          f"access at https://huggingface.co/{need.source} and `hf auth login`"))

    # disk: checkpoints and final models of every run, and the downloads
    if config.get("estimate"):
        est = estimate.estimate(grid)
        need_gb = sum(sum(r.disk_gb.values()) for r in est)
        models = {n.source for n in fetch.needs(config) if n.kind == "model"}
        params = {**{s.get("hub"): s.get("params_b") for s in config["backbones"].values()},
                  **{s.get("hub"): s.get("params_b") for s in (config.get("reward_models") or {}).values()}}
        download_gb = sum(2 * float(params.get(m) or 0) for m in models)
        results = Path(results_dir or grid.results)
        free = p.free_gb(results)
        rows.append(Check("disk", str(results), free >= need_gb, f"{free:,.0f} GB free; checkpoints and final models "
                          f"{need_gb:,.0f} GB", "" if free >= need_gb else
                          "point results/ at a larger filesystem, or lower training.save_total_limit"))
        cache = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
        free_c = p.free_gb(cache)
        rows.append(Check("disk", str(cache), free_c >= download_gb, f"{free_c:,.0f} GB free; downloads about "
                          f"{download_gb:,.0f} GB of model weights", "" if free_c >= download_gb else
                          "set HF_HOME to a larger shared filesystem"))

    # the sandbox that runs generated code (MBPP)
    if any("lm_eval" in m.evals for m in grid.models.values()):
        iso = p.sandbox()
        missing = iso.get("missing") or []
        rows.append(Check("sandbox", "isolation", not missing, f"mode {iso.get('mode')}, layers "
                          f"{', '.join(iso.get('layers') or []) or 'none'}" + (f"; missing {', '.join(missing)}"
                                                                               if missing else ""),
                          "" if not missing else "run on a host with user namespaces and cgroups (bwrap/unshare), or "
                          "accept less isolation with GIFT_SANDBOX_ON_MISSING=warn"))
    return rows


def judge_checks(config: dict, grid: Any, probes: Probes, kinds: tuple[str, ...] = ("alpaca_eval", "arena_hard"),
                 ) -> list[Check]:
    """The API judges' key and model, a row per judge evaluation kind the grid runs; each row concerns that
    kind's evaluations alone (training and the other evaluations never wait for a judge)."""
    rows = []
    for kind in kinds:
        judge = (config.get("evaluation") or {}).get(kind, {}).get("judge")
        used = any(kind in m.evals for m in grid.models.values())
        if judge and used and str(judge).startswith("api:"):
            why = probes.judge(str(judge))
            rows.append(Check("judge", f"{kind}: {judge}", why is None, why or "key set, the server lists the model",
                              "" if why is None else judge_fix(kind), only_for=kind))
    return rows


def judge_fix(kind: str) -> str:
    """How to let a judge evaluation run, or leave it out."""
    return (f"only the {kind} evaluations need it: set the API key (export OPENAI_API_KEY=...) where the workflow "
            f"runs, or name another judge in evaluation.{kind}.judge, or drop evaluation.{kind} from the config "
            f"to skip {kind}")


def blocking(rows: list[Check]) -> list[Check]:
    """The failed checks every compute job waits for (a judge's concern only its own evaluations)."""
    return [r for r in rows if not r.ok and not r.only_for]


def _cpu_adam(accelerate_config: str) -> bool:
    """Whether an accelerate config runs DeepSpeed with the optimizer on the CPU (DeepSpeedCPUAdam)."""
    from gift import gpu_memory

    try:
        acc = gpu_memory.accelerate_settings(accelerate_config)
    except OSError:
        return False  # a missing file is the grid's error to report
    return acc["kind"] == "DEEPSPEED" and acc["offload_optimizer"]


def format_table(rows: list[Check]) -> str:
    width = max([len(r.item) for r in rows] + [4])
    lines = [f"{'':8} {'area':<8} {'item':<{width}}  detail", "-" * (width + 40)]
    for r in rows:
        lines.append(f"{'ok' if r.ok else 'MISSING':<8} {r.area:<8} {r.item:<{width}}  {r.detail}")
        if r.fix:
            lines.append(f"{'':8} {'':8} {'':<{width}}  fix: {r.fix}")
    bad = sum(not r.ok for r in rows)
    lines.append(f"{len(rows) - bad} of {len(rows)} checks ok" + (f"; {bad} missing" if bad else ""))
    judges = sorted({r.only_for for r in rows if not r.ok and r.only_for})
    if judges:
        lines.append(("training and the other evaluations: ready" if not blocking(rows) else
                      "training waits for the other missing checks")
                     + f"; {', '.join(judges)}: not ready (those evaluations alone fail until it is fixed)")
    return "\n".join(lines)


def cli(argv: list[str], probes: Probes | None = None) -> int:
    """Entry point of `gift doctor`."""
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a workflow config, e.g. config/paper.yaml")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    try:
        config = gift_grid.load_checked(args.config)
        rows = run_checks(config, probes)
    except (gift_grid.ConfigError, OSError) as err:
        print(f"gift doctor: {args.config}: {err}", file=sys.stderr)
        return 2
    table = format_table(rows)
    print(table)
    if args.out:
        from gift.files import write_text

        write_text(args.out, table + "\n")
    return 0 if all(r.ok for r in rows) else 1


def rule_doctor(config: dict, output: str, log: str, probes: Probes | None = None) -> None:
    """The workflow's doctor rule: the table in the log, and `output` when every check the compute jobs need is
    ok (a judge's key or model is checked again by rule judge, which only that judge's evaluations wait for)."""
    rows = run_checks(config, probes)
    table = format_table(rows)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{table}\n", encoding="utf-8")
    bad = len(blocking(rows))
    if bad:
        raise ValueError(f"gift doctor: {bad} check(s) failed; see {log}")
    Path(output).write_text(f"{table}\n", encoding="utf-8")


def rule_judge(config: dict, kind: str, output: str, log: str, probes: Probes | None = None) -> None:
    """The workflow's judge rule: `output` when the judge of `kind` answers; else one message that says how to
    add the key or drop the section. Only the evaluations of `kind` wait for it."""
    rows = judge_checks(config, gift_grid.expand(config), probes or default_probes(), kinds=(kind,))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{format_table(rows) if rows else 'no API judge'}\n", encoding="utf-8")
    bad = [r for r in rows if not r.ok]
    if bad:
        raise ValueError(f"judge of {kind} ({bad[0].item.split(': ', 1)[1]}): {bad[0].detail}; {bad[0].fix}")
    Path(output).write_text(f"{format_table(rows) if rows else 'no API judge'}\n", encoding="utf-8")
