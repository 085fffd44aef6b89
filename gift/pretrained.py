"""The model hub: whether it may and can be reached, and model references resolved to local paths (failing fast offline)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from gift.errors import UserError


class HubUnavailableError(UserError, RuntimeError):
    """A hub id was given but neither a local copy nor the hub can be reached."""


def env_flag(name: str) -> bool:
    """Whether environment variable `name` is set to a true value (1, true, yes, on)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """Whether the user asked the Hugging Face libraries to stay off the hub."""
    return any(env_flag(v) for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint opens within `timeout_s`."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_pretrained(name_or_path: str, revision: str | None = None, what: str = "model",
                       config_key: str = "model") -> str:
    """A local directory for `name_or_path`: the directory itself, the hub cache, or a fresh download.

    Raises HubUnavailableError, naming the id and how to point the config at a local copy,
    when the id is neither a directory nor cached and the hub cannot be reached.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"{what} directory {path} has no config.json: not a from_pretrained directory")
        return str(path)
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        raise UserError(f"{what} {name_or_path!r} is neither an existing directory nor a hub id (owner/name); "
                        f"fix `{config_key}` in the config")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name_or_path, revision=revision, local_files_only=True)
    except Exception:  # not cached: try the hub below
        pass
    how = (f"Download it where the hub is reachable (`hf download {name_or_path}"
           f"{' --revision ' + revision if revision else ''} --local-dir DIR`) and set `{config_key}: DIR` "
           "in the config, or pre-populate the Hugging Face cache.")
    if hub_offline():
        raise HubUnavailableError(f"{what} {name_or_path!r} is not cached and HF_HUB_OFFLINE is set. {how}")
    try:
        return snapshot_download(name_or_path, revision=revision, etag_timeout=10)
    except Exception as err:
        raise HubUnavailableError(
            f"{what} {name_or_path!r} (revision {revision or 'default'}) could not be fetched from the hub "
            f"({type(err).__name__}: {str(err)[:200]}). {how}"
        ) from None


def local_model(ref: str, what: str = "model") -> str:
    """A from_pretrained directory for `ref`: a directory, or `owner/name[@revision]` resolved from the hub cache
    (where `gift fetch` put it) or, when reachable, the hub. Base models are evaluated from these directories."""
    if Path(ref).expanduser().is_dir():
        return resolve_pretrained(ref, None, what)
    name, _, revision = ref.partition("@")
    return resolve_pretrained(name, revision or None, what, "backbones.<name>.hub")
