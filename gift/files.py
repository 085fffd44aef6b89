"""Files: atomic outputs, JSON/JSONL/YAML reading with clear errors, run manifests and the shipped data files.

A killed job never leaves a half file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from gift.errors import UserError

PathLike = str | os.PathLike

# The data files the library reads (config schema, the paper's Table 2/3 numbers, Arena-Hard judge prompts), shipped
# inside the package so that a wheel install finds them: gift/assets/README.md lists them.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def asset_path(*parts: str) -> Path:
    """The path of a shipped data file, e.g. ``asset_path("schemas", "config.schema.yaml")``."""
    return ASSETS_DIR.joinpath(*parts)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Works for files and directories alike: whatever the block writes at the yielded path
    appears at `path` in one rename, or not at all.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)
    # host and pid in the name: a later writer can tell a killed writer's leftovers from a live one's
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_tmp(path: PathLike) -> list[Path]:
    """Remove the temporary siblings of `path` that killed writers on this host left behind; returns them.

    Another host's leftovers (a shared file system) are kept: their writer may be alive.
    """
    path = Path(path)
    removed = []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(_HOST)}-(\d+)\..*\.tmp")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return removed
    for p in siblings:
        m = pattern.fullmatch(p.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def read_text(path: PathLike, what: str = "file") -> str:
    """The UTF-8 text of `path`; a missing, unreadable or non-UTF-8 file is a UserError naming it."""
    return _decode(_read_bytes(path, what, "a file"), path)


def _read_bytes(path: PathLike, what: str, expected: str) -> bytes:
    """The bytes of `path`; missing, a directory or unreadable is a UserError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a directory, expected {expected}") from None
    except OSError as err:
        raise UserError(f"{what} {path}: cannot read it ({err.strerror or err})") from None


def _decode(data: bytes, path: PathLike, lineno: int | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        where = f"{path}:{lineno}" if lineno else str(path)
        raise UserError(f"{where}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
                        "convert the file to UTF-8 (e.g. iconv -t UTF-8)") from None


def read_yaml(path: PathLike, what: str = "file") -> Any:
    """A YAML file's content; malformed YAML or a bad encoding is a UserError naming the file and line."""
    import yaml

    text = read_text(path, what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{where}: not valid YAML ({problem}); fix the syntax at that line") from None


def write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_text_if_changed(path: PathLike, text: str, only_if_changed: bool = True) -> bool:
    """Write `text` atomically unless (with `only_if_changed`) the file already holds exactly it, so that its
    modification time stays put; returns whether the file was written."""
    path = Path(path)
    if only_if_changed and path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def write_json(path: PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: PathLike, what: str = "file") -> Any:
    """A JSON file's content; a missing, malformed or non-UTF-8 file is a UserError naming it."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None


def write_jsonl(path: PathLike, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            n += 1
    return n


def read_jsonl(path: PathLike, what: str = "file") -> list[dict]:
    """The rows (JSON objects, one a line) of a JSONL file; a bad line is a UserError naming file and line."""
    data = _read_bytes(path, what, "a JSONL file")
    rows = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        line = _decode(raw, path, lineno).strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{lineno}: not valid JSON ({err.msg}); one JSON object per line") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


_PACKAGES = (
    "gift", "torch", "transformers", "trl", "datasets", "accelerate", "tokenizers",
    "lm_eval", "alpaca_eval", "math_verify", "numpy", "pandas", "snakemake", "vllm",
)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            try:
                out[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                out[name] = None
    return out


def git_commit(cwd: PathLike | None = None) -> str | None:
    """The checkout's commit, with '+dirty' when the tree has uncommitted changes; None outside git."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def manifest(config: dict, seed: int | None = None, **extra: Any) -> dict:
    """What a run directory records about how it was made."""
    return {"config": config, "seed": seed, "versions": package_versions(), "git_commit": git_commit(),
            "argv": sys.argv, **extra}


def file_logger(name: str, path: PathLike, level: int = logging.INFO) -> logging.Logger:
    """A logger that writes everything to `path` (appending) and warnings and up to stderr."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve()
               for h in logger.handlers):
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(fh)
    return logger
