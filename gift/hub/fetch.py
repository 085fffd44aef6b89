"""`gift fetch --config CONFIG`: everything a config reads from the hub or the web, downloaded once and pinned.

Models and reward models (at the config's revisions), datasets (at the registry's revisions, into the hub
cache), the lm-eval tasks' datasets (into the datasets cache, by building each task once) and evaluator
files (judge prompts, questions, baseline answers, AlpacaEval's instructions and df_gamed.csv, sha256
checked) go where the compute jobs read them offline: the Hugging Face cache of HF_HOME (put HF_HOME on the
shared filesystem) and the paths the config names. A report says per item what was fetched (with the commit
it resolved to) and what was not, with the reason and the fix; `results/<config>/fetch.json` keeps it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gift import grid as gift_grid
from gift.cli import HelpFormatter
from gift.files import write_json

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass
class Need:
    """One thing the config needs from outside: what it is, where it comes from, where it goes."""

    kind: str  # model, dataset, lm_eval, file
    name: str
    source: str  # hub id, lm-eval task, or URL
    revision: str | None = None
    config: str | None = None
    dest: str | None = None
    sha256: str | None = None
    what: str = ""
    splits: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What became of a Need."""

    need: Need
    ok: bool
    detail: str  # the resolved commit / path, or the reason it failed
    fix: str = ""


def needs(config: dict) -> list[Need]:
    """Everything `config` reads from the hub or the web (nothing for configs of built models and twins)."""
    from gift.data.registry import REGISTRY

    grid = gift_grid.expand(config)
    out: list[Need] = []
    for name in grid.backbones_used():
        spec = config["backbones"][name]
        if spec.get("hub") and not spec.get("build") and not spec.get("path"):
            out.append(Need("model", name, spec["hub"], spec.get("revision", "main"), what="policy backbone"))
    for name in grid.reward_models_used():
        spec = config["reward_models"][name]
        if spec.get("hub") and not spec.get("build") and not spec.get("path"):
            out.append(Need("model", name, spec["hub"], spec.get("revision", "main"), what="reward model"))
    for name in grid.datasets_used():
        spec = config["datasets"][name]
        if spec.get("source") != "hub":
            continue
        reg = REGISTRY[name]
        out.append(Need("dataset", name, reg.hub_id, spec.get("revision") or reg.revision,
                        spec.get("hub_config") or reg.config, splits=list(reg.splits.values()), what="dataset"))
    evaluation = config.get("evaluation") or {}
    kinds = {e for m in grid.models.values() for e in m.evals}
    if "lm_eval" in kinds and evaluation.get("lm_eval", {}).get("tasks") == "paper":
        from gift.evals.lm_eval.tasks import TABLE2_TASKS

        for task in TABLE2_TASKS:
            out.append(Need("lm_eval", task.key, task.paper_task, what="lm-eval task dataset"))
    manifests = []
    if "alpaca_eval" in kinds:
        from gift.evals.alpaca_eval.evaluate import fetch_manifest

        manifests += fetch_manifest(evaluation.get("alpaca_eval"))
    if "arena_hard" in kinds:
        from gift.evals.arena_hard.official import fetch_manifest

        manifests += fetch_manifest(evaluation.get("arena_hard"))
    for item in manifests:
        out.append(Need("file", Path(item.dest).name, item.url, dest=item.dest, sha256=item.sha256, what=item.what))
    return out


class Hub:
    """The network side of the download step (tests replace it: no hub is reachable where they run)."""

    def reachable(self) -> str | None:
        """None when the hub answers, else why not (checked once, so that an offline run reports at once)."""
        from gift.data.loading import hub_reachable

        return None if hub_reachable() else "the hub (HF_ENDPOINT, default huggingface.co) is unreachable from here"

    def cached(self, need: Need) -> str | None:
        """The snapshot already in the hub cache at the pinned revision (fetched before, or a local mirror)."""
        if need.kind not in ("model", "dataset"):
            return None
        try:
            from huggingface_hub import snapshot_download

            return snapshot_download(need.source, repo_type="dataset" if need.kind == "dataset" else "model",
                                     revision=need.revision, local_files_only=True)
        except Exception:  # noqa: BLE001 - not cached
            return None

    def model(self, need: Need) -> str:
        from huggingface_hub import snapshot_download

        return snapshot_download(need.source, revision=need.revision)

    def dataset(self, need: Need) -> str:
        from huggingface_hub import snapshot_download

        patterns = None
        if need.config and need.config not in ("default", "main"):
            # only the subset the config reads (Infinity-Instruct holds several)
            patterns = [f"{need.config}/*", f"*{need.config}*", "README.md", "*.json"]
        if need.config == "main":
            patterns = ["main/*", "README.md"]
        return snapshot_download(need.source, repo_type="dataset", revision=need.revision, allow_patterns=patterns)

    def lm_eval_task(self, need: Need, work_dir: Path) -> str:
        """Build the task once online: lm-eval downloads its dataset into the datasets cache."""
        from lm_eval.tasks import get_task_dict

        from gift.evals.lm_eval.tasks import materialise_paper_tasks, task_manager

        include = materialise_paper_tasks(work_dir)
        tasks = get_task_dict([need.source], task_manager(include, True))
        return f"{len(tasks)} task(s) built"

    def file(self, need: Need) -> str:
        dest = Path(need.dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        with urllib.request.urlopen(need.source, timeout=60) as resp, open(tmp, "wb") as f:  # noqa: S310 - pinned URL
            while chunk := resp.read(1 << 20):
                f.write(chunk)
        tmp.replace(dest)
        return str(dest)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fix(need: Need, err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    if "Gated" in type(err).__name__ or "gated" in text.lower() or "401" in text or "403" in text:
        return (f"request access at https://huggingface.co/{'datasets/' if need.kind == 'dataset' else ''}"
                f"{need.source} and log in (`hf auth login` or HF_TOKEN), then fetch again")
    if need.kind == "file":
        return f"download {need.source} to {need.dest} by hand, or fetch again where the web is reachable"
    if "RevisionNotFound" in type(err).__name__:
        return f"revision {need.revision} does not exist for {need.source}: correct it in the config"
    return "run `gift fetch --config CONFIG` where the hub is reachable, with the HF_HOME the jobs use"


@contextlib.contextmanager
def _online() -> Any:
    """The download step itself must reach the hub, whatever offline variables the environment holds."""
    saved = {v: os.environ.pop(v) for v in OFFLINE_VARIABLES if v in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def fetch(config: dict, hub: Hub | None = None, work_dir: str | Path | None = None,
          progress: Any = print) -> list[Outcome]:
    """Fetch every Need of `config`; never raises for one item: each outcome says what happened."""
    hub = hub or Hub()
    work = Path(work_dir or f"results/{config['name']}/fetch")
    outcomes = []
    items = needs(config)
    with _online():
        cached = {i: hub.cached(n) for i, n in enumerate(items)}
        unreachable = hub.reachable() if any(n.kind != "file" and not cached[i] for i, n in enumerate(items)) else None
        for i, need in enumerate(items, 1):
            progress(f"[{i}/{len(items)}] {need.kind} {need.name}: {need.source}"
                     + (f" @ {need.revision}" if need.revision else ""))
            try:
                if need.kind == "file" and need.dest and Path(need.dest).is_file() and need.sha256 \
                        and _sha256(Path(need.dest)) == need.sha256:
                    outcomes.append(Outcome(need, True, f"{need.dest} (already present, sha256 ok)"))
                    continue
                if cached[i - 1]:
                    outcomes.append(Outcome(need, True, f"{cached[i - 1]} (already in the hub cache)"))
                    continue
                if unreachable and need.kind != "file":
                    outcomes.append(Outcome(need, False, unreachable, _fix(need, ConnectionError(unreachable))))
                    continue
                detail = {"model": hub.model, "dataset": hub.dataset, "file": hub.file,
                          "lm_eval": lambda n: hub.lm_eval_task(n, work)}[need.kind](need)
                if need.kind == "file" and need.sha256:
                    got = _sha256(Path(need.dest))
                    if got != need.sha256:
                        raise ValueError(f"sha256 {got} differs from the pinned {need.sha256}")
                outcomes.append(Outcome(need, True, str(detail)))
            except Exception as err:  # noqa: BLE001 - one failed item is reported, not fatal
                outcomes.append(Outcome(need, False, f"{type(err).__name__}: {str(err)[:300]}", _fix(need, err)))
    return outcomes


def format_report(outcomes: list[Outcome]) -> str:
    """One line per item: ok or MISSING, the item, and the commit/path or the reason and the fix."""
    lines = []
    for o in outcomes:
        n = o.need
        head = f"{'ok' if o.ok else 'MISSING':<8} {n.kind:<8} {n.name:<28} {n.source}"
        if n.revision:
            head += f" @ {n.revision}"
        lines.append(head)
        lines.append(f"         {o.detail}")
        if n.revision == "main" and o.ok:
            lines.append("         unpinned (revision main): pin the commit above in the config")
        if o.fix:
            lines.append(f"         fix: {o.fix}")
    missing = sum(not o.ok for o in outcomes)
    lines.append(f"{len(outcomes) - missing} of {len(outcomes)} items fetched; {missing} missing")
    return "\n".join(lines)


def write_report(outcomes: list[Outcome], path: str | Path) -> None:
    write_json(path, {"items": [{**asdict(o.need), "ok": o.ok, "detail": o.detail, "fix": o.fix} for o in outcomes],
                      "missing": sum(not o.ok for o in outcomes)})


def default_report(config: dict, complete: bool) -> str:
    """Where `gift fetch` writes its report: the workflow's fetch output only when every item was fetched.

    A report of missing items at that path would mark the workflow's fetch step done (Snakemake reruns a job
    only when its output is missing), so it goes beside it, and a complete report left by an earlier fetch
    that no longer holds is removed.
    """
    done = Path(f"results/{config['name']}/fetch.json")
    if complete:
        return str(done)
    done.unlink(missing_ok=True)
    return str(done.with_name("fetch-missing.json"))


def cli(argv: list[str]) -> int:
    """Entry point of `gift fetch`."""
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a workflow config, e.g. config/paper.yaml")
    parser.add_argument("--report", help="where to write the JSON report (default: results/<name>/fetch.json when "
                        "every item was fetched, the workflow's mark that its fetch step is done; otherwise "
                        "results/<name>/fetch-missing.json, so that the workflow's fetch step runs again)")
    parser.add_argument("--list", action="store_true", help="list what the config needs and fetch nothing")
    args = parser.parse_args(argv)
    try:
        config = gift_grid.load_checked(args.config)
        items = needs(config)
    except (gift_grid.ConfigError, OSError) as err:
        print(f"gift fetch: {args.config}: {err}", file=sys.stderr)
        return 2
    if args.list:
        for n in items:
            print(f"{n.kind:<8} {n.name:<28} {n.source}" + (f" @ {n.revision}" if n.revision else "")
                  + (f" -> {n.dest}" if n.dest else ""))
        return 0
    if not items:
        print(f"{args.config}: nothing to fetch (built models and synthetic data)")
        return 0
    outcomes = fetch(config)
    report = args.report or default_report(config, all(o.ok for o in outcomes))
    write_report(outcomes, report)
    print(format_report(outcomes))
    print(f"report: {report}")
    return 0 if all(o.ok for o in outcomes) else 1


def rule_fetch(config: dict, output: str, log: str, work_dir: str) -> None:
    """The workflow's fetch rule: the report in the log, and `output` only when every item was fetched."""
    outcomes = fetch(config, work_dir=work_dir)
    report = format_report(outcomes)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{report}\n", encoding="utf-8")
    print(report)
    missing = sum(not o.ok for o in outcomes)
    if missing:
        write_report(outcomes, Path(output).with_name("fetch-missing.json"))
        raise ValueError(f"gift fetch: {missing} item(s) missing; see {log}")
    write_report(outcomes, output)
