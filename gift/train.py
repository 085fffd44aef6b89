"""`gift train`: one run from a run config to a run directory, resumable at any point.

The run directory holds manifest.json, metrics.jsonl (one row per optimizer step), train.log,
checkpoints/ (TRL/Trainer checkpoints), final/ (a from_pretrained directory) and DONE, written last.
Run again with the same config, an interrupted run resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gift.batching import BatchError, launch_world_size, resolve
from gift.errors import UserError, did_you_mean
from gift.io import (
    atomic_path,
    file_logger,
    manifest,
    read_json,
    read_jsonl,
    read_yaml,
    remove_stale_tmp,
    write_json,
    write_text,
)
from gift.rewards import REWARD_KINDS

ROLLOUT_BACKENDS = ("auto", "hf", "vllm")


@dataclass
class RunConfig:
    """One training run. Every field can be set in the run YAML; unknown keys are errors."""

    run_id: str = field(metadata={"help": "name of the run (the run directory's name by convention)"})
    method: str = field(metadata={"help": "a name in gift.methods.METHODS: gift, grpo, dapo, gspo, gft"})
    model: str = field(metadata={"help": "policy: a from_pretrained directory or a hub id (with model_revision)"})
    train_data: str = field(metadata={"help": "prepared training examples (JSONL, see docs/interfaces.md)"})
    reward: str = field(metadata={"help": "explicit reward: gsm8k, gsm8k_lenient, math, dapo (verifiable) or reward_model"})
    output_dir: str = field(metadata={"help": "the run directory"})
    model_revision: str | None = field(default=None, metadata={"help": "pinned hub revision of `model`"})
    eval_data: str | None = field(default=None, metadata={"help": "held-out examples for periodic pass@1"})
    selection_data: str | None = field(default=None, metadata={
        "help": "a second held-out split, evaluated with eval_data (selection_pass@1): a sweep picks its best "
                "value on it, so that the claims are judged on a split the choice never saw"})
    reward_model: str | None = field(default=None, metadata={"help": "reward model directory or hub id (RLHF)"})
    reward_model_revision: str | None = field(default=None, metadata={"help": "pinned hub revision of reward_model"})
    reward_args: dict = field(default_factory=dict, metadata={"help": "keyword arguments of the reward function"})
    seed: int = field(default=0, metadata={"help": "seed of data order, sampling and initialisation"})
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps; -1 means num_train_epochs decides"})
    num_train_epochs: float | None = field(default=None, metadata={"help": "epochs over train_data (if max_steps<0)"})
    train_limit: int | None = field(default=None, metadata={"help": "use only the first N training examples"})
    max_prompt_length: int | None = field(default=None, metadata={"help": "drop prompts longer than this (tokens)"})
    eval_every: int = field(default=0, metadata={"help": "pass@1 on eval_data every K optimizer steps (0: never)"})
    eval_limit: int | None = field(default=None, metadata={"help": "evaluate on the first N eval examples"})
    eval_k: int = field(default=1, metadata={"help": "samples per eval prompt for the sampled pass@1"})
    eval_temperature: float = field(default=1.0, metadata={"help": "sampling temperature of the periodic eval"})
    eval_max_new_tokens: int | None = field(default=None, metadata={"help": "default: max_completion_length"})
    save_every: int = field(default=50, metadata={"help": "checkpoint every K optimizer steps"})
    save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept on disk"})
    rollout_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts per rollout batch, over all processes (the paper: 1024); with optimizer_batch_prompts, "
                "TRL's per-device batch, accumulation and steps_per_generation are derived at launch"})
    optimizer_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts per optimizer step, over all processes (the paper: 256, so 4 updates per rollout batch)"})
    micro_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts (whole groups) per process per forward/backward pass; default 1 with global sizes"})
    method_args: dict = field(default_factory=dict, metadata={"help": "overrides of the method's config fields"})
    rollout_backend: str = field(default="auto", metadata={
        "help": "who generates the rollouts: `vllm` (TRL's colocated vLLM), `hf` (transformers generate), or "
                "`auto`: vLLM when it is installed and a GPU is present, else hf. method_args.use_vllm wins."})

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "run config") -> RunConfig:
        """A validated config from a mapping of fields; a UserError names `source` and the field."""
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            named = ", ".join(f"{k}{did_you_mean(k, names)}" for k in unknown)
            raise UserError(f"{source}: unknown field(s) {named}; valid fields: {', '.join(names)}")
        missing = [n for n, f in names.items() if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and data.get(n) in (None, "")]
        if missing:
            raise UserError(f"{source}: missing required field(s): {', '.join(missing)}")
        cfg = cls(**data)
        cfg.validate(source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> RunConfig:
        """A validated config from a run YAML; a missing, malformed or non-UTF-8 file is a UserError."""
        return cls.from_dict(read_yaml(path, "run config") or {}, source=str(path))

    def validate(self, source: str = "run config") -> None:
        """Check every field's type and range (no file is read); a UserError names the field and the fix."""
        from gift.methods import get_method, method_config_kwargs

        def bad(name: str, why: str) -> UserError:
            return UserError(f"{source}: field {name!r} {why}")

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kinds = [k.strip() for k in str(f.type).split("|")]
            if value is None:
                if "None" not in kinds:
                    raise bad(f.name, "must be set (null is not allowed)")
                continue
            if "float" in kinds and isinstance(value, str):
                try:  # YAML 1.1 reads 1e-6 as a string
                    value = float(value)
                    setattr(self, f.name, value)
                except ValueError:
                    pass
            ok = {"str": isinstance(value, str), "dict": isinstance(value, dict),
                  "int": isinstance(value, int) and not isinstance(value, bool),
                  "float": isinstance(value, int | float) and not isinstance(value, bool)}
            if not any(ok.get(k, False) for k in kinds):
                what = {"str": "a string", "dict": "a mapping", "int": "an integer", "float": "a number"}
                want = " or ".join(what[k] for k in kinds if k in what)
                raise bad(f.name, f"must be {want}, got {value!r}")
            if "float" in kinds and not math.isfinite(value):
                raise bad(f.name, f"must be a finite number, got {value!r}")
        for name in ("run_id", "method", "model", "train_data", "reward", "output_dir"):
            if not getattr(self, name).strip():
                raise bad(name, "must not be empty")
        for name in ("rollout_batch_prompts", "optimizer_batch_prompts", "micro_batch_prompts"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise bad(name, f"must be a positive integer (prompts), got {value!r}")
        if (self.rollout_batch_prompts is None) != (self.optimizer_batch_prompts is None):
            raise bad("rollout_batch_prompts/optimizer_batch_prompts", "must be set together")
        if self.micro_batch_prompts is not None and self.optimizer_batch_prompts is None:
            raise bad("micro_batch_prompts", "needs rollout_batch_prompts and optimizer_batch_prompts")
        if self.rollout_backend not in ROLLOUT_BACKENDS:
            raise bad("rollout_backend", f"must be one of {', '.join(ROLLOUT_BACKENDS)}, got {self.rollout_backend!r}")
        if self.reward not in REWARD_KINDS:
            raise bad("reward", f"must be one of {', '.join(REWARD_KINDS)}, got {self.reward!r}"
                      f"{did_you_mean(self.reward, REWARD_KINDS)}")
        if self.reward == "reward_model" and not self.reward_model:
            raise bad("reward_model", "is required when reward is 'reward_model'")
        if self.max_steps == -1:
            if not self.num_train_epochs:
                raise bad("max_steps", "must be positive unless num_train_epochs is given")
        elif self.max_steps < 1:
            raise bad("max_steps", f"must be >= 1 (or -1 to let num_train_epochs decide), got {self.max_steps}")
        if self.num_train_epochs is not None and self.num_train_epochs <= 0:
            raise bad("num_train_epochs", f"must be > 0, got {self.num_train_epochs}")
        for name in ("train_limit", "eval_limit", "max_prompt_length", "eval_max_new_tokens", "save_total_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise bad(name, f"must be >= 1 (or left out), got {value}")
        for name in ("save_every", "eval_k"):
            if getattr(self, name) < 1:
                raise bad(name, f"must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0:
            raise bad("eval_every", f"must be >= 0 (0: never), got {self.eval_every}")
        if not 0 <= self.seed < 2**32:
            raise bad("seed", f"must be in [0, 2**32), got {self.seed}")
        if self.eval_temperature <= 0:
            raise bad("eval_temperature", f"must be > 0 (the greedy pass@1 is reported beside it), "
                      f"got {self.eval_temperature}")
        if self.eval_every and not self.eval_data:
            raise bad("eval_data", "is required when eval_every > 0")
        if not re.fullmatch(r"[A-Za-z0-9._=+-]+", self.run_id):
            raise bad("run_id", f"may hold only letters, digits and . _ = + -, got {self.run_id!r}")
        from gift.rewards import check_reward_args

        try:
            check_reward_args(self.reward, self.reward_args)
        except ValueError as err:
            raise bad("reward_args", str(err)) from None
        out = Path(self.output_dir)
        if out.exists() and not out.is_dir():
            raise bad("output_dir", f"is {out}, which is a file; name a directory (it is created if missing)")
        parent = next((p for p in out.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise bad("output_dir", f"cannot be created: {parent} is a file")
        try:
            get_method(self.method)
            method_config_kwargs(self.method, self.method_args)
        except ValueError as err:
            raise UserError(f"{source}: {err}") from None


# TRL log keys -> metrics.jsonl keys (docs/interfaces.md)
_METRIC_NAMES = {
    "loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm", "reward": "reward_mean",
    "reward_std": "reward_std", "completions/mean_length": "completion_length", "kl": "kl",
    "implicit_reward/mean": "implicit_reward_mean", "implicit_reward/std": "implicit_reward_std",
    "implicit_explicit_corr": "implicit_explicit_corr", "implied_beta": "implied_beta",
    "step_time": "step_time_s", "entropy": "entropy", "frac_reward_zero_std": "frac_reward_zero_std",
    "completions/clipped_ratio": "truncated_frac", "dynamic_sampling/kept_fraction": "kept_group_frac",
    "gft/reward_expert": "reward_expert", "gft/reward_teacher": "reward_teacher",
    "gft/reward_sampled": "reward_sampled", "gft/frac_above_tau": "frac_above_tau",
    "gft/fallback_groups": "fallback_groups",
}


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


def _checkpoint_state(path: Path) -> dict | None:
    """A checkpoint's trainer state; None when it is incomplete (the Trainer writes trainer_state.json last)."""
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "global_step" in state else None


def _latest_checkpoint(checkpoints: Path) -> Path | None:
    found = []
    for p in checkpoints.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and _checkpoint_state(p) is not None:
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only the rows up to `last_step`: the rows after the checkpoint will be logged again.

    A line a kill cut short is dropped with them (it is past the checkpoint).
    """
    if not path.exists():
        return
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= last_step:
            rows.append(row)
    write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _make_callback(cfg: RunConfig, run_dir: Path, tokenizer, eval_examples, method_kwargs, reward_funcs, logger,
                   selection_examples: list[dict] | None = None):
    import torch
    from transformers import TrainerCallback

    metrics_path = run_dir / "metrics.jsonl"
    max_new = cfg.eval_max_new_tokens or method_kwargs.get("max_completion_length") or 256

    class RunRecorder(TrainerCallback):
        """Writes one metrics.jsonl row per optimizer step and runs the periodic held-out pass@1."""

        def __init__(self):
            self.pending_eval: dict[str, Any] = {}
            self.last_counts = (0, 0, 0)

        def _pass(self, model, step: int, examples: list[dict], greedy: bool) -> dict[str, Any]:
            from gift.evals.rlvr import evaluate_pass_at_1

            # a forked RNG keeps the periodic eval from changing the training trajectory
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed * 100003 + step)
                return evaluate_pass_at_1(model, tokenizer, examples, k=cfg.eval_k,
                                          temperature=cfg.eval_temperature, max_new_tokens=max_new,
                                          greedy=greedy, seed=cfg.seed + step, progress=False)

        def _evaluate(self, model, step: int) -> dict[str, Any]:
            t0 = time.perf_counter()
            was_training = model.training
            model.eval()
            res = self._pass(model, step, eval_examples, greedy=True)
            out = {"eval_pass@1": 100.0 * res["pass@1"], "eval_pass@1_stderr": 100.0 * (res.get("pass@1_stderr") or 0.0),
                   "eval_pass@1_greedy": 100.0 * res["pass@1_greedy"], "eval_n": res["n"]}
            if selection_examples:
                sel = self._pass(model, step, selection_examples, greedy=False)
                out.update({"selection_pass@1": 100.0 * sel["pass@1"],
                            "selection_pass@1_stderr": 100.0 * (sel.get("pass@1_stderr") or 0.0),
                            "selection_n": sel["n"]})
            model.train(was_training)
            out["eval_time_s"] = time.perf_counter() - t0
            logger.info("step %d: eval pass@1 %.2f%% (greedy %.2f%%) on %d prompts%s", step, out["eval_pass@1"],
                        out["eval_pass@1_greedy"], res["n"],
                        f"; selection pass@1 {out['selection_pass@1']:.2f}%" if selection_examples else "")
            return out

        def on_train_begin(self, args, state, control, model=None, **kw):
            # the starting point of the eval curve: the policy before its first update (not redone on resume).
            # Every rank evaluates (sharded models need all ranks in each forward pass); rank 0 writes.
            if cfg.eval_every and eval_examples and state.global_step == 0:
                row = {"step": 0, "epoch": 0.0, **self._evaluate(model, 0)}
                if not state.is_world_process_zero:
                    return
                with open(metrics_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")

        def on_step_end(self, args, state, control, model=None, **kw):
            if cfg.eval_every and eval_examples and state.global_step % cfg.eval_every == 0:
                self.pending_eval = self._evaluate(model, state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            # the end-of-training summary has train_loss instead of loss; only rank 0 writes
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            row: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
            for key, name in _METRIC_NAMES.items():
                if key in logs and logs[key] is not None:
                    row[name] = float(logs[key])
            calls = unparsed = errors = 0
            for func in reward_funcs:
                if hasattr(func, "stats"):
                    st = func.stats()
                    calls, unparsed, errors = (calls + st["completions"], unparsed + st["unparsed"],
                                               errors + st["errors"])
            if calls > self.last_counts[0]:
                new_calls = calls - self.last_counts[0]
                row["reward_unparsed_frac"] = (unparsed - self.last_counts[1]) / new_calls
                row["reward_error_frac"] = (errors - self.last_counts[2]) / new_calls
            self.last_counts = (calls, unparsed, errors)
            if cfg.reward != "reward_model" and "reward_mean" in row:
                row["train_pass@1"] = 100.0 * row["reward_mean"]
            row.update(self.pending_eval)
            self.pending_eval = {}
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            logger.info("step %d: %s", state.global_step,
                        ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))

    return RunRecorder()


class ConfigChangedError(ValueError):
    """The run directory holds a run made with another config."""


def _config_changes(run_dir: Path, run: dict, method_config: dict) -> list[str] | None:
    """The fields whose values differ from those of the run already in `run_dir` (None: no earlier run there)."""
    path = run_dir / "manifest.json"
    if not path.exists():
        return None
    before = read_json(path).get("config", {})
    now = json.loads(json.dumps({"run": run, "method_config": method_config}, default=str))
    changed = []
    for part in ("run", "method_config"):
        old, new = before.get(part, {}), now[part]
        for key in sorted(set(old) | set(new)):
            if part == "run" and key == "method_args":  # compared resolved, in method_config
                continue
            if old.get(key) != new.get(key):
                changed.append(f"{'method_args.' if part == 'method_config' else ''}{key}: "
                               f"{old.get(key)!r} -> {new.get(key)!r}")
    return changed


def _set_aside(run_dir: Path) -> Path:
    """Move an outdated run directory out of the way (kept, not deleted); returns where it went."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = run_dir.parent / ".replaced" / f"{run_dir.name}-{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(dest)
    return dest


def train(config: RunConfig | dict | str | os.PathLike, on_config_change: str = "error") -> Path:
    """Train one run; returns the run directory. Resumes from the last checkpoint if one exists.

    If the run directory holds a run made with a different config (run fields or method settings),
    `on_config_change` decides: "error" raises ConfigChangedError naming the changed fields; "restart"
    moves the old directory to `<runs>/.replaced/<run_id>-<time>` and starts afresh.
    """
    if on_config_change not in ("error", "restart"):
        raise ValueError(f"on_config_change must be 'error' or 'restart', got {on_config_change!r}")
    if isinstance(config, dict):
        cfg = RunConfig.from_dict(config)
    elif isinstance(config, RunConfig):
        cfg = config
        cfg.validate()
    else:
        cfg = RunConfig.from_yaml(config)

    from gift.methods import get_method, method_config_kwargs

    spec = get_method(cfg.method)
    method_kwargs = method_config_kwargs(cfg.method, cfg.method_args)
    world_size = launch_world_size()
    try:
        method_kwargs, batch_plan = resolve(method_kwargs, cfg.rollout_batch_prompts, cfg.optimizer_batch_prompts,
                                            cfg.micro_batch_prompts, world_size)
    except BatchError as err:
        raise BatchError(f"{cfg.run_id}: {err}") from None
    run_dir = Path(cfg.output_dir)
    changes = _config_changes(run_dir, dataclasses.asdict(cfg), method_kwargs)
    if changes:
        if on_config_change == "error":
            raise ConfigChangedError(
                f"{run_dir} holds a run made with another config ({'; '.join(changes)}); run with --restart to "
                f"set it aside under {run_dir.parent / '.replaced'} and start again, or choose another output_dir")
        moved = _set_aside(run_dir)
        print(f"{run_dir}: config changed ({'; '.join(changes)}); the old run is kept in {moved}")
    if (run_dir / "DONE").exists():
        print(f"{run_dir}: already complete (DONE exists); nothing to do")
        return run_dir

    # Everything the run reads is checked before anything is written: a bad input fails with nothing to undo.
    from gift.rewards import VERIFIABLE_KINDS

    train_rows = _load_examples(cfg.train_data, "train_data", cfg.train_limit,
                                f"the verifiable reward {cfg.reward!r}" if cfg.reward in VERIFIABLE_KINDS else None)
    eval_rows = (_load_examples(cfg.eval_data, "eval_data", cfg.eval_limit, "the held-out pass@1")
                 if cfg.eval_data else [])
    selection_rows = (_load_examples(cfg.selection_data, "selection_data", cfg.eval_limit, "the selection pass@1")
                      if cfg.selection_data and cfg.eval_every else [])

    import torch

    from gift.hub import resolve_pretrained

    model_path = resolve_pretrained(cfg.model, cfg.model_revision, "policy model", "model")
    reward_model_path = (resolve_pretrained(cfg.reward_model, cfg.reward_model_revision, "reward model",
                                            "reward_model") if cfg.reward == "reward_model" else None)
    use_vllm = (_use_vllm(cfg.rollout_backend, torch.cuda.is_available())
                if "use_vllm" not in method_kwargs else None)

    checkpoints = run_dir / "checkpoints"
    args_kwargs = {
        **method_kwargs,
        "output_dir": str(checkpoints),
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "max_steps": cfg.max_steps,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": cfg.save_every,
        "save_total_limit": cfg.save_total_limit,
        "report_to": "none",
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
    try:
        args = spec.load("config")(**args_kwargs)
    except (ValueError, TypeError) as err:
        raise UserError(f"run {cfg.run_id}: method_args do not make a valid {spec.config_class} ({err})") from None

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    n_rows = len(train_rows)
    if cfg.max_prompt_length:
        train_rows = [r for r in train_rows if _prompt_tokens(tokenizer, r["prompt"]) <= cfg.max_prompt_length]
        if not train_rows:
            raise UserError(f"train_data {cfg.train_data}: every prompt is longer than "
                            f"max_prompt_length={cfg.max_prompt_length}; raise it")

    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(run_dir / "final")
    logger = file_logger(f"gift.train.{cfg.run_id}", run_dir / "train.log")
    for name in ("transformers", "trl", "gift.rewards"):
        lib_logger = logging.getLogger(name)
        lib_logger.addHandler(logger.handlers[0])
    if cfg.max_prompt_length:
        logger.info("dropped %d of %d prompts longer than %d tokens", n_rows - len(train_rows), n_rows,
                    cfg.max_prompt_length)
    try:
        _train_in(cfg, spec, run_dir, args, method_kwargs, batch_plan, model_path, reward_model_path, train_rows,
                  eval_rows, selection_rows, tokenizer, logger)
    except Exception:
        logger.exception("run %s failed", cfg.run_id)
        raise
    return run_dir


def _train_in(cfg: RunConfig, spec, run_dir: Path, args, method_kwargs: dict, batch_plan: dict, model_path: str,
              reward_model_path: str | None, train_rows: list[dict], eval_rows: list[dict],
              selection_rows: list[dict], tokenizer, logger) -> None:
    """The run itself, once every input has been checked and the run directory exists."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, set_seed

    set_seed(cfg.seed)
    checkpoints = run_dir / "checkpoints"
    resolved = {"run": dataclasses.asdict(cfg), "method_config": method_kwargs, "model_path": model_path,
                "use_vllm": args.use_vllm, "batch": batch_plan,
                "n_train_examples": len(train_rows), "n_eval_examples": len(eval_rows)}
    resume = _latest_checkpoint(checkpoints)
    if resume is None:
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        write_json(run_dir / "manifest.json", manifest(resolved, seed=cfg.seed, method=spec.name))
    else:
        state = _checkpoint_state(resume)
        _truncate_metrics(run_dir / "metrics.jsonl", state["global_step"])
        logger.info("resuming from %s (step %d)", resume, state["global_step"])
        if state.get("max_steps") and state["global_step"] >= state["max_steps"]:
            # Killed after the last step (while saving final/): the last checkpoint is the trained model.
            # Resuming the Trainer there would take one more step at learning rate 0.
            logger.info("the last checkpoint is the final step; saving final/ from it")
            model = AutoModelForCausalLM.from_pretrained(resume, dtype=_dtype(method_kwargs))
            _save_final(run_dir, cfg, model, tokenizer, state["global_step"])
            return

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=_dtype(method_kwargs))
    trainer_cls = spec.load("trainer")
    reward_funcs = _build_reward_funcs(cfg, method_kwargs, reward_model_path)
    trainer = trainer_cls(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        processing_class=tokenizer,
        callbacks=[_make_callback(cfg, run_dir, tokenizer, eval_rows, method_kwargs, reward_funcs, logger,
                                  selection_rows)],
    )
    logger.info("batch: %s", ", ".join(f"{k} {v}" for k, v in batch_plan.items()))
    logger.info("training %s (%s) from %s on %d examples; resume=%s", cfg.run_id, spec.display_name, model_path,
                len(train_rows), resume)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    logger.info("training finished in %.1f s", time.perf_counter() - t0)

    _save_final(run_dir, cfg, None, tokenizer, trainer.state.global_step, trainer=trainer)


def _save_final(run_dir: Path, cfg: RunConfig, model, tokenizer, step: int, trainer=None) -> None:
    """final/ (one rename: complete or absent), then DONE."""
    with atomic_path(run_dir / "final") as tmp:
        if trainer is not None:
            trainer.save_model(str(tmp))
        else:
            model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    write_text(run_dir / "DONE", f"{cfg.run_id} finished at step {step}\n")


class RolloutBackendError(UserError, RuntimeError):
    """The rollout backend the config asks for cannot run here."""


def _use_vllm(backend: str, cuda: bool) -> bool:
    """Whether TRL should generate the rollouts with vLLM (imported by TRL only when it does)."""
    installed = importlib.util.find_spec("vllm") is not None
    if backend == "vllm":
        if not installed:
            raise RolloutBackendError("rollout_backend 'vllm' but vLLM is not installed: pip install -e '.[gpu]', "
                               "or set rollout_backend: hf")
        if not cuda:
            raise RolloutBackendError("rollout_backend 'vllm' needs a CUDA GPU; set rollout_backend: hf on a CPU")
        return True
    return backend == "auto" and installed and cuda


def _dtype(method_kwargs: dict[str, Any]):
    import torch

    if method_kwargs.get("bf16"):
        return torch.bfloat16
    if method_kwargs.get("fp16"):
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


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gift train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config YAML (fields: see gift.train.RunConfig)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field, dotted for nesting: --set method_args.learning_rate=1e-6")
    parser.add_argument("--restart", action="store_true",
                        help="if output_dir holds a run made with another config, set it aside (under "
                             "<runs>/.replaced/) and start again; without it, that is an error")
    ns = parser.parse_args(argv)
    data = read_yaml(ns.config, "run config") or {}
    if not isinstance(data, dict):
        raise UserError(f"{ns.config}: expected a mapping of fields, got {type(data).__name__}")
    for item in ns.set:
        keys, value = _parse_override(item)
        target = data
        for k in keys[:-1]:
            target = target.setdefault(k, {})
            if not isinstance(target, dict):
                raise UserError(f"--set {item!r}: {k!r} is not a mapping in {ns.config}")
        target[keys[-1]] = value
    cfg = RunConfig.from_dict(data, source=ns.config)
    try:
        run_dir = train(cfg, on_config_change="restart" if ns.restart else "error")
    except (ConfigChangedError, BatchError) as err:
        print(f"gift train: error: {err}", file=sys.stderr)
        return 2
    metrics = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    last = metrics[-1] if metrics else {}
    summary = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float) and math.isfinite(v))
    print(f"{cfg.run_id}: {len(metrics)} steps logged in {run_dir}; last: {summary}")
    return 0
