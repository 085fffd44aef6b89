"""A content-addressed cache of built tiny models, shared by every result directory on a machine.

A build's key hashes what decides its output: the kind and settings of the build, the bytes of every
file of its prepared data (not their paths), the source of the modules the build runs, and the versions
of torch, transformers and tokenizers. A rebuild from the same inputs in another result directory (a
scratch copy, CI's second workflow, a config re-run after `rm -r results/`) copies the cached model
instead of training it again. GIFT_MODEL_CACHE sets the directory; `off` turns the cache off.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
from pathlib import Path
from typing import Any

from gift.files import atomic_path

# The modules a build runs: tiny models, the pass@1 that stops the warm start, its scoring and generation.
BUILD_MODULES = ("tiny/build.py", "tiny/backbone.py", "tiny/reward_model.py", "evals/rlvr/pass_at_k.py", "rewards.py",
                 "generation.py", "files.py", "tiny/model_cache.py")
VERSIONED = ("torch", "transformers", "tokenizers")
COMPLETE = ".complete"


def cache_root() -> Path | None:
    """The cache directory (GIFT_MODEL_CACHE, default ~/.cache/gift/models), or None when it is `off`."""
    value = os.environ.get("GIFT_MODEL_CACHE", "")
    if value.lower() in {"off", "0", "false", "no"}:
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gift" / "models"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def build_key(kind: str, data_dirs: list[str | os.PathLike], settings: dict[str, Any]) -> str:
    """The hex digest naming one build's output in the cache."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent  # gift/
    h.update(json.dumps({"kind": kind, "settings": settings, "versions": {v: _version(v) for v in VERSIONED}},
                        sort_keys=True, default=str).encode())
    for module in BUILD_MODULES:
        h.update(module.encode() + b"\0" + (package / module).read_bytes())
    for i, d in enumerate(data_dirs):  # the order of the data directories is part of the build
        for f in sorted(p for p in Path(d).rglob("*") if p.is_file()):
            h.update(f"{i}:{f.relative_to(d).as_posix()}".encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:32]


def fetch(key: str, out: str | os.PathLike) -> bool:
    """Copy the cached build `key` to `out` (atomically); False when the cache is off or has no such build."""
    root = cache_root()
    src = root / key if root else None
    if src is None or not (src / COMPLETE).exists():
        return False
    with atomic_path(out) as tmp:
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(COMPLETE))
    return True


def store(key: str, built: str | os.PathLike) -> None:
    """Put a finished build into the cache (nothing when the cache is off or already holds it)."""
    root = cache_root()
    if root is None or (root / key / COMPLETE).exists():
        return
    try:
        with atomic_path(root / key) as tmp:
            shutil.copytree(built, tmp)
            (tmp / COMPLETE).write_text("")
    except OSError:
        pass  # a read-only or full cache only costs the next build its shortcut
