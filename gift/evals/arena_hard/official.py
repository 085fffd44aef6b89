"""Arena-Hard-Auto's official judge prompts and files: the download manifest at the pinned commit and their loaders."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gift.evals.arena_hard.scoring import CATEGORIES

# The arena-hard-auto commit whose show_result.py, judge prompts and judge settings the suite follows.
ARENA_HARD_REPO = "lmarena/arena-hard-auto"
ARENA_HARD_COMMIT = "196f6b826783b3da7310e361a805fa36f0be83f3"


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
    from gift.evals.arena_hard.judges import load_arena_prompts

    path = Path(path)
    if path.is_dir() or path.suffix not in (".yaml", ".yml"):
        return load_official_prompts(path)
    prompts = load_arena_prompts(path)
    prompts["provenance"] = {"source": "suite", "file": str(path), "files": {path.name: sha256_of(path)},
                             "sha256": prompts_hash(prompts)}
    return prompts
