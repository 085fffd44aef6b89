"""Table 2's lm-eval tasks: the seven columns, the MBPP metric that runs in the sandbox, and the task folders
written for lm-eval (the paper set's ``mbpp_sandboxed``, and the local twins of all seven tasks).

The twins ``include:`` the installed upstream YAML by absolute path and swap in synthetic data files in the
real schema, so upstream prompts, filters and metrics run unchanged; the MBPP tasks copy upstream's keys
instead of including them (see ``gift/evals/lm_eval/templates/mbpp/mbpp_twin.yaml``).
"""

from __future__ import annotations

import ast
import datetime as _dt
import logging
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gift.files import atomic_path, package_versions, write_json, write_text

log = logging.getLogger(__name__)

# The templates of the twins and of mbpp_sandboxed, shipped in the package.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


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


# ----------------------------------------------------------------------------- MBPP metric

SANDBOX_STATUS: Counter = Counter()  # how each sandboxed MBPP program ended, for the report


def sandboxed_pass_at_1(references: list[str] | str, predictions: list[str] | list[list[str]] | str,
                        timeout_s: float = 10.0) -> float:
    """pass@1 of one generated program: 1.0 when `prediction + "\\n" + reference` runs to its end in the sandbox.

    The reference is the task's target: the problem's ``test_setup_code`` and then its asserts.

    Mirrors lm-eval's mbpp metric (code_eval joins candidate and test the same way) with
    ``gift.sandbox.runner.execute`` as the executor. Untrusted output never raises: anything that is not a
    program, or any sandbox error other than a missing isolation layer, scores 0 and is counted.
    """
    from gift.sandbox.runner import SandboxUnavailable, execute

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
                       "update gift.evals.lm_eval.tasks.upstream_mbpp_fewshot_samples")


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
              "# pass@1 runs in gift.sandbox.runner. Do not edit: regenerate with gift eval lm-eval.\n")
    return header + yaml.dump(merged, Dumper=_function_dumper(), sort_keys=False, allow_unicode=True, width=10_000)


def _write_task_folder(tasks_out: Path, folder: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        write_text(tasks_out / folder / name, text)


def materialise_twins(out_dir: str | Path, seed: int, n: int, templates_dir: Path = TEMPLATES_DIR) -> dict:
    """Write the seven twins to `out_dir`: ``data/`` (synthetic JSONL in each benchmark's schema),
    ``tasks/`` (twin YAMLs with absolute paths to the installed upstream YAMLs and to the data) and
    ``twins.json`` (what was made). The folder appears whole or not at all. Returns the manifest."""
    from gift.evals.lm_eval.twins import write_twin_data

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
            out = _twin_task_files(folder, subst, tasks_dir)
            _write_task_folder(tmp / "tasks", folder.name, out)
            written += [f"{folder.name}/{name}" for name in out]
        manifest = {"kind": "lm_eval_twins", "seed": seed, "n": n, "tasks": [t.twin_task for t in TABLE2_TASKS],
                    "task_files": written, "data_files": files, "upstream_tasks_dir": str(tasks_dir),
                    "versions": {"lm_eval": package_versions().get("lm_eval")},
                    "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        write_json(tmp / "twins.json", manifest)
    return manifest


def _twin_task_files(folder: Path, subst: dict[str, str], tasks_dir: Path) -> dict[str, str]:
    """{file name: text} of one twin task folder: its templates filled in, each upstream YAML it includes checked."""
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
    return out


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

