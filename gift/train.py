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
from gift.io import atomic_path, file_logger, manifest, read_json, read_jsonl, write_json, write_text

REWARD_KINDS = ("gsm8k", "gsm8k_lenient", "math", "dapo", "reward_model")
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
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(names)}")
        missing = [n for n, f in names.items() if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and data.get(n) in (None, "")]
        if missing:
            raise ValueError(f"{source}: missing required field(s): {', '.join(missing)}")
        cfg = cls(**data)
        cfg.validate(source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> RunConfig:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({err})") from None
        except FileNotFoundError:
            raise FileNotFoundError(f"run config {path} does not exist") from None
        return cls.from_dict(data or {}, source=str(path))

    def validate(self, source: str = "run config") -> None:
        from gift.methods import get_method, method_config_kwargs

        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"{source}: field {name!r} {why}")

        for name in ("seed", "max_steps", "eval_every", "eval_k", "save_every"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise bad(name, f"must be an integer, got {getattr(self, name)!r}")
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
            raise bad("reward", f"must be one of {', '.join(REWARD_KINDS)}, got {self.reward!r}")
        if self.reward == "reward_model" and not self.reward_model:
            raise bad("reward_model", "is required when reward is 'reward_model'")
        if self.max_steps < 0 and not self.num_train_epochs:
            raise bad("max_steps", "must be positive unless num_train_epochs is given")
        if self.save_every < 1 or self.eval_k < 1:
            raise bad("save_every/eval_k", "must be >= 1")
        if self.eval_every and not self.eval_data:
            raise bad("eval_data", "is required when eval_every > 0")
        if not isinstance(self.method_args, dict):
            raise bad("method_args", "must be a mapping of config fields")
        if not re.fullmatch(r"[A-Za-z0-9._=+-]+", self.run_id):
            raise bad("run_id", f"may hold only letters, digits and . _ = + -, got {self.run_id!r}")
        try:
            get_method(self.method)
            method_config_kwargs(self.method, self.method_args)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


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


def _load_examples(path: str, what: str, limit: int | None = None) -> list[dict]:
    if not Path(path).exists():
        raise FileNotFoundError(f"{what} {path} does not exist (prepare it with `gift data prepare`)")
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{what} {path} is empty")
    for i, row in enumerate(rows):
        prompt = row.get("prompt")
        if not prompt or not isinstance(prompt, list | str):
            raise ValueError(f"{what} {path}: row {i} (id {row.get('id')!r}) has no 'prompt'")
    return rows[:limit] if limit else rows


def _build_reward_funcs(cfg: RunConfig, method_kwargs: dict[str, Any]) -> list:
    from gift.rewards import make_reward_function

    kwargs = dict(cfg.reward_args)
    if cfg.reward == "reward_model":
        from gift.hub import resolve_pretrained

        kwargs["model"] = resolve_pretrained(cfg.reward_model, cfg.reward_model_revision, "reward model",
                                             "reward_model")
    funcs = [make_reward_function(cfg.reward, **kwargs)]
    buffer = method_kwargs.get("overlong_buffer") or 0
    if buffer:
        from trl.rewards import get_soft_overlong_punishment

        funcs.append(get_soft_overlong_punishment(method_kwargs["max_completion_length"], buffer))
    return funcs


def _latest_checkpoint(checkpoints: Path) -> Path | None:
    found = []
    for p in checkpoints.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and (p / "trainer_state.json").exists():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only the rows up to `last_step`: the rows after the checkpoint will be logged again."""
    if not path.exists():
        return
    rows = [r for r in read_jsonl(path) if r.get("step", 0) <= last_step]
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
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = file_logger(f"gift.train.{cfg.run_id}", run_dir / "train.log")
    for name in ("transformers", "trl"):
        lib_logger = logging.getLogger(name)
        lib_logger.addHandler(logger.handlers[0])

    train_rows = _load_examples(cfg.train_data, "train_data", cfg.train_limit)
    eval_rows = _load_examples(cfg.eval_data, "eval_data", cfg.eval_limit) if cfg.eval_data else []
    selection_rows = (_load_examples(cfg.selection_data, "selection_data", cfg.eval_limit)
                      if cfg.selection_data and cfg.eval_every else [])

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from gift.hub import resolve_pretrained

    set_seed(cfg.seed)
    model_path = resolve_pretrained(cfg.model, cfg.model_revision, "policy model", "model")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    if cfg.max_prompt_length:
        kept = [r for r in train_rows if _prompt_tokens(tokenizer, r["prompt"]) <= cfg.max_prompt_length]
        logger.info("dropped %d of %d prompts longer than %d tokens", len(train_rows) - len(kept), len(train_rows),
                    cfg.max_prompt_length)
        if not kept:
            raise ValueError(f"train_data: every prompt is longer than max_prompt_length={cfg.max_prompt_length}")
        train_rows = kept

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
    if "use_vllm" not in method_kwargs:
        args_kwargs["use_vllm"] = _use_vllm(cfg.rollout_backend, torch.cuda.is_available())
        if args_kwargs["use_vllm"]:
            args_kwargs.setdefault("vllm_mode", "colocate")
    args = spec.load("config")(**args_kwargs)

    resolved = {"run": dataclasses.asdict(cfg), "method_config": method_kwargs, "model_path": model_path,
                "use_vllm": args.use_vllm, "batch": batch_plan,
                "n_train_examples": len(train_rows), "n_eval_examples": len(eval_rows)}
    resume = _latest_checkpoint(checkpoints)
    if resume is None:
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        write_json(run_dir / "manifest.json", manifest(resolved, seed=cfg.seed, method=spec.name))
    else:
        state = json.loads((resume / "trainer_state.json").read_text())
        _truncate_metrics(run_dir / "metrics.jsonl", state["global_step"])
        logger.info("resuming from %s (step %d)", resume, state["global_step"])

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=_dtype(method_kwargs))
    trainer_cls = spec.load("trainer")
    reward_funcs = _build_reward_funcs(cfg, method_kwargs)
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

    with atomic_path(run_dir / "final") as tmp:
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    write_text(run_dir / "DONE", f"{cfg.run_id} finished at step {trainer.state.global_step}\n")
    return run_dir


def _use_vllm(backend: str, cuda: bool) -> bool:
    """Whether TRL should generate the rollouts with vLLM (imported by TRL only when it does)."""
    installed = importlib.util.find_spec("vllm") is not None
    if backend == "vllm":
        if not installed:
            raise RuntimeError("rollout_backend 'vllm' but vLLM is not installed: pip install -e '.[gpu]', "
                               "or set rollout_backend: hf")
        if not cuda:
            raise RuntimeError("rollout_backend 'vllm' needs a CUDA GPU; set rollout_backend: hf on a CPU")
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
        raise ValueError(f"--set {text!r}: expected KEY=VALUE (e.g. method_args.learning_rate=1e-6)")
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
    data = yaml.safe_load(Path(ns.config).read_text(encoding="utf-8")) or {}
    for item in ns.set:
        keys, value = _parse_override(item)
        target = data
        for k in keys[:-1]:
            target = target.setdefault(k, {})
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
