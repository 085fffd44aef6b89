"""Raw rows from the hub (pinned revision), a local copy (parquet, jsonl, json, arrow) or the synthetic twin."""

from __future__ import annotations

import os
from pathlib import Path

from gift.data.registry import DatasetSpec
from gift.pretrained import env_flag, hub_reachable

LOCAL_SUFFIXES = (".parquet", ".jsonl", ".json", ".arrow")


class DataSourceError(RuntimeError):
    """A dataset that cannot be read from the requested source, with what to do instead."""


def hub_offline_reason() -> str | None:
    """Why the hub cannot be used right now (offline variables set, or unreachable), or None."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if env_flag(var):
            return f"{var} is set"
    if not hub_reachable():
        return "the hub is unreachable"
    return None


def _local_hint(spec: DatasetSpec) -> str:
    files = ", ".join(f"{hub}.jsonl" for hub in spec.splits.values())
    return (f"download {spec.hub_id} (revision {spec.revision}) elsewhere and run "
            f"`gift data prepare --dataset {spec.name} --source local --path DIR`, where DIR holds one "
            f"parquet/jsonl/arrow file (or shards) per split ({files}, or the hub's data/<split>-*.parquet); "
            f"or use --source synthetic")


def cached_snapshot(spec: DatasetSpec, revision: str | None = None) -> Path | None:
    """The dataset repository at the pinned revision in the hub cache (where `gift fetch` puts it), or None."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec.hub_id, repo_type="dataset", revision=revision or spec.revision,
                                      local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or no hub library): the caller says what to do
        return None


def load_hub(spec: DatasetSpec, config: str | None = None, revision: str | None = None) -> dict[str, list[dict]]:
    """Raw rows per prepared split at the pinned revision: from the hub cache when `gift fetch` put the
    repository there (no network), else from the hub; fails fast when neither is possible."""
    snapshot = cached_snapshot(spec, revision)
    if snapshot is not None:
        return _load_snapshot(spec, snapshot, config)
    reason = hub_offline_reason()
    if reason:
        raise DataSourceError(f"dataset {spec.name!r} ({spec.hub_id} @ {revision or spec.revision}) is not in the "
                              f"hub cache and cannot be loaded from the hub: {reason}. Run `gift fetch --config "
                              "CONFIG` where the hub is reachable (same HF_HOME), or " + _local_hint(spec))
    import datasets

    out = {}
    for split, hub_split in spec.splits.items():
        try:
            ds = datasets.load_dataset(spec.hub_id, config or spec.config, split=hub_split,
                                       revision=revision or spec.revision)
        except (ConnectionError, OSError) as err:
            raise DataSourceError(f"dataset {spec.name!r} ({spec.hub_id}, split {hub_split}): {err}. "
                                  + _local_hint(spec)) from err
        out[split] = ds.to_list()
    return out


def _load_snapshot(spec: DatasetSpec, snapshot: Path, config: str | None) -> dict[str, list[dict]]:
    """Rows per prepared split from a downloaded dataset repository, read by `datasets` as a local directory."""
    import datasets

    out = {}
    name = config or spec.config
    for split, hub_split in spec.splits.items():
        try:
            ds = datasets.load_dataset(str(snapshot), name if name != "default" else None, split=hub_split)
        except (ValueError, FileNotFoundError, OSError) as err:
            raise DataSourceError(f"dataset {spec.name!r}: the cached copy {snapshot} has no readable split "
                                  f"{hub_split!r} of config {name!r} ({err}); fetch it again") from None
        out[split] = ds.to_list()
    return out


def _split_files(root: Path, hub_split: str, split: str) -> list[Path]:
    found: list[Path] = []
    for base in (root, root / "data"):
        for name in {hub_split, split}:
            for suffix in LOCAL_SUFFIXES:
                found += [base / f"{name}{suffix}"] if (base / f"{name}{suffix}").is_file() else []
                found += sorted(base.glob(f"{name}-*{suffix}"))
        if found:
            break
    return sorted(set(found))


def read_table(path: Path) -> list[dict]:
    """The rows of one parquet, jsonl, json or arrow file as dicts; a file that cannot be read is named."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".arrow"):
        try:
            return _read_columnar(path, suffix)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise DataSourceError(f"{path}: not a readable {suffix[1:]} file ({str(err)[:200]})") from None
    if suffix == ".jsonl":
        from gift.files import read_jsonl

        return read_jsonl(path)
    if suffix == ".json":
        from gift.files import read_json

        data = read_json(path)
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        if not isinstance(data, list):
            raise DataSourceError(f"{path}: expected a JSON list of rows")
        return data
    raise DataSourceError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(LOCAL_SUFFIXES)}")


def _read_columnar(path: Path, suffix: str) -> list[dict]:
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import datasets

    return datasets.Dataset.from_file(str(path)).to_list()


def load_local(spec: DatasetSpec, path: str | os.PathLike) -> dict[str, list[dict]]:
    """Raw rows per prepared split from a user's copy.

    `path` is a directory with one file (or `<split>-*` shards) per split, named after the hub split
    or the prepared split, at its top or under `data/`; or a single file for a one-split dataset.
    """
    root = Path(path)
    if not root.exists():
        raise DataSourceError(f"dataset {spec.name!r}: local path {root} does not exist")
    if root.is_file():
        if len(spec.splits) != 1:
            raise DataSourceError(f"dataset {spec.name!r} has splits {', '.join(spec.splits)}: pass a directory "
                                  f"with one file per split, not the single file {root}")
        return {next(iter(spec.splits)): read_table(root)}
    out = {}
    for split, hub_split in spec.splits.items():
        files = _split_files(root, hub_split, split)
        if not files:
            raise DataSourceError(f"dataset {spec.name!r}: no file for split {split!r} under {root} (looked for "
                                  f"{hub_split}.{{parquet,jsonl,json,arrow}}, {hub_split}-*.parquet, also under data/)")
        rows: list[dict] = []
        for f in files:
            rows += read_table(f)
        out[split] = rows
    return out
