"""The run directory of `gift train`: the check against an earlier run's config, resuming from the last
checkpoint, manifest.json, train.log, and final/ with DONE written last."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from pathlib import Path

from gift.distributed import is_main_process, rank, wait_for_everyone
from gift.files import file_logger, manifest, read_json, remove_stale_tmp, write_json, write_text
from gift.run.config import RunConfig


def checkpoint_state(path: Path) -> dict | None:
    """A checkpoint's trainer state; None when it is incomplete (the Trainer writes trainer_state.json last)."""
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "global_step" in state else None


def latest_checkpoint(checkpoints: Path) -> Path | None:
    found = []
    for p in checkpoints.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and checkpoint_state(p) is not None:
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


class ConfigChangedError(ValueError):
    """The run directory holds a run made with another config."""


def config_changes(run_dir: Path, run: dict, method_config: dict) -> list[str] | None:
    """The fields whose values differ from those of the run already in `run_dir` (None: no earlier run there)."""
    path = run_dir / "manifest.json"
    if not path.exists():
        return None
    before = read_json(path).get("config", {})
    now = json.loads(json.dumps({"run": run, "method_config": method_config}, default=str))
    # A run-config field that a later version of the suite added is no change while it keeps its default
    # (an interrupted run resumes after an upgrade).
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}
    changed = []
    for part in ("run", "method_config"):
        old, new = before.get(part, {}), now[part]
        for key in sorted(set(old) | set(new)):
            if part == "run" and key == "method_args":  # compared resolved, in method_config
                continue
            if part == "run" and key not in old and key in defaults and new.get(key) == defaults[key]:
                continue
            if old.get(key) != new.get(key):
                changed.append(f"{'method_args.' if part == 'method_config' else ''}{key}: "
                               f"{old.get(key)!r} -> {new.get(key)!r}")
    return changed


def set_aside(run_dir: Path) -> Path:
    """Move an outdated run directory out of the way (kept, not deleted); returns where it went."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = run_dir.parent / ".replaced" / f"{run_dir.name}-{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(dest)
    return dest


def finished_or_set_aside(run_dir: Path, cfg: RunConfig, method_kwargs: dict, on_config_change: str) -> bool:
    """Whether the run is already complete; a run directory made with another config is an error or set aside."""
    changes = config_changes(run_dir, dataclasses.asdict(cfg), method_kwargs)
    if changes:
        # A run that failed before its first checkpoint (e.g. a setting only the trainer rejects) has nothing
        # to resume: the corrected config starts afresh without --restart; the failed attempt is kept.
        resumable = (run_dir / "DONE").exists() or latest_checkpoint(run_dir / "checkpoints") is not None
        if on_config_change == "error" and resumable:
            raise ConfigChangedError(
                f"{run_dir} holds a run made with another config ({'; '.join(changes)}); run with --restart to "
                f"set it aside under {run_dir.parent / '.replaced'} and start again, or choose another output_dir")
        if is_main_process():
            moved = set_aside(run_dir)
            why = "config changed" if resumable else "config changed, and the earlier attempt has no checkpoint"
            print(f"{run_dir}: {why} ({'; '.join(changes)}); the old run is kept in {moved}")
    wait_for_everyone()
    if (run_dir / "DONE").exists():
        if is_main_process():
            print(f"{run_dir}: already complete (DONE exists); nothing to do")
        return True
    return False


def start_or_resume(run_dir: Path, cfg: RunConfig, resolved: dict, method_name: str,
                    logger: logging.Logger) -> tuple[Path | None, dict | None]:
    """(the last complete checkpoint, its trainer state), or (None, None) for a fresh start.

    A fresh start writes manifest.json (the resolved run) and clears a metrics.jsonl left without a
    checkpoint; a resumed run's metrics.jsonl is cut back to the checkpoint's step.
    """
    from gift.run.recorder import truncate_metrics

    main = is_main_process()
    resume = latest_checkpoint(run_dir / "checkpoints")
    if resume is None:
        if main:
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
            write_json(run_dir / "manifest.json", manifest(resolved, seed=cfg.seed, method=method_name))
        return None, None
    state = checkpoint_state(resume)
    if main:
        truncate_metrics(run_dir / "metrics.jsonl", state["global_step"])
    logger.info("resuming from %s (step %d)", resume, state["global_step"])
    return resume, state


def open_run_dir(run_dir: Path, cfg: RunConfig) -> logging.Logger:
    """Create the run directory, clear what a kill left of final/, and log the run and its libraries to train.log."""
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(run_dir / "final")
    wait_for_everyone()
    # one log per rank: train.log is rank 0's
    logger = file_logger(f"gift.run.train.{cfg.run_id}",
                         run_dir / ("train.log" if is_main_process() else f"train.rank{rank()}.log"))
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).addHandler(logger.handlers[0])
    return logger


# The libraries whose records also go to a run's train.log.
_LIBRARY_LOGGERS = ("transformers", "trl", "gift.rewards")


def close_run_log(logger: logging.Logger) -> None:
    """Detach and close a run's train.log handlers: a process that trains another run next must not write the
    next run's records (or the libraries') into this run's log."""
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            for name in _LIBRARY_LOGGERS:
                logging.getLogger(name).removeHandler(handler)
            logger.removeHandler(handler)
            handler.close()


def save_final(run_dir: Path, cfg: RunConfig, model, tokenizer, step: int, trainer=None, dtype=None) -> None:
    """final/ (one rename by rank 0: complete or absent), then DONE. Every rank takes part in saving (ZeRO-3 and
    FSDP gather the weights), into one path every rank knows: a per-process temporary name would scatter the
    gathered weights. `dtype` (the training precision, e.g. bf16) is what final/ holds where the weights are
    plain tensors: fp32 master weights are a training device, not part of the trained model."""
    import shutil

    from gift.distributed import full_state_dict

    main = is_main_process()
    tmp = run_dir / ".final.tmp"
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    wait_for_everyone()
    if trainer is not None:
        if dtype is not None and not (trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled):
            trainer.model.to(dtype)  # training is over; a sharded model saves through its engine instead
        trainer.save_model(str(tmp))  # the Trainer writes on rank 0 only
    else:
        # a model loaded outside any trainer: under ZeRO-3 each rank holds a partition, gathered here
        state = full_state_dict(model, dtype)
        if main:
            model.save_pretrained(str(tmp), state_dict=state)
    wait_for_everyone()
    if main:
        tokenizer.save_pretrained(str(tmp))
        final = run_dir / "final"
        if final.is_dir():
            shutil.rmtree(final)
        tmp.rename(final)
        write_text(run_dir / "DONE", f"{cfg.run_id} finished at step {step}\n")
    wait_for_everyone()
