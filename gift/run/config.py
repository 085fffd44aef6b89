"""The run config of `gift train`: every field with its help text, read from YAML or a dict and checked
field by field before anything is written (a UserError names the file and the field)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gift.errors import UserError, did_you_mean
from gift.files import read_yaml
from gift.rewards import REWARD_KINDS

ROLLOUT_BACKENDS = ("auto", "hf", "vllm")
# Experiment trackers a run reports to through transformers' `report_to` (the last three installed separately).
TRACKERS = ("none", "tensorboard", "wandb", "trackio")
# What eval_every and save_every count: optimizer updates, or rollout batches (a verl trainer step, whose
# test_freq and save_freq count them: updates_per_rollout_batch optimizer updates each).
CADENCE_UNITS = ("update", "rollout_batch")


@dataclass
class RunConfig:
    """One training run. Every field can be set in the run YAML; unknown keys are errors."""

    run_id: str = field(metadata={"help": "name of the run (the run directory's name by convention)"})
    method: str = field(metadata={"help": "a name in gift.methods.METHODS: gift, grpo, dapo, gspo, gft"})
    model: str = field(metadata={"help": "policy: a from_pretrained directory or a hub id (with model_revision)"})
    train_data: str = field(metadata={"help": "prepared training examples (JSONL, see docs/interfaces.md)"})
    reward: str = field(metadata={"help": "explicit reward: gsm8k, math, dapo (verl's rules), gsm8k_lenient, "
                                          "math_verify, dapo_verify (lenient) or reward_model"})
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
    eval_every: int = field(default=0, metadata={
        "help": "pass@1 on eval_data every K optimizer updates or rollout batches (cadence_unit; 0: never)"})
    cadence_unit: str = field(default="update", metadata={
        "help": "what eval_every and save_every count: `update` (optimizer updates) or `rollout_batch` (rollout "
                "batches, verl's trainer steps: each is updates_per_rollout_batch optimizer updates)"})
    eval_limit: int | None = field(default=None, metadata={"help": "evaluate on the first N eval examples"})
    eval_k: int = field(default=1, metadata={
        "help": "samples per eval prompt at eval_temperature for the sampled mean@k and pass@k (0: none)"})
    eval_temperature: float = field(default=1.0, metadata={"help": "sampling temperature of the periodic eval"})
    eval_max_new_tokens: int | None = field(default=None, metadata={"help": "default: max_completion_length"})
    eval_greedy: bool = field(default=True, metadata={
        "help": "greedy pass@1 at each periodic eval, one completion per prompt (verl's validation); it is then "
                "eval_pass@1, the sampled mean@k a secondary metric; false: eval_pass@1 is the sampled mean@k"})
    save_every: int = field(default=50, metadata={
        "help": "checkpoint every K optimizer updates or rollout batches (cadence_unit)"})
    save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept on disk"})
    rollout_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts per rollout batch, over all processes (the paper: 1024); with optimizer_batch_prompts, "
                "TRL's per-device batch, accumulation and steps_per_generation are derived at launch"})
    optimizer_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts per optimizer step, over all processes (the paper: 256, so 4 updates per rollout batch)"})
    micro_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts (whole groups) per process per forward/backward pass; default 1 with global sizes"})
    method_args: dict = field(default_factory=dict, metadata={"help": "overrides of the method's config fields"})
    rollout_chunk_rows: int = field(default=256, metadata={
        "help": "transformers rollouts: at most this many sequences per generate call (whole groups); vLLM ignores it"})
    eval_chunk_rows: int = field(default=256, metadata={
        "help": "periodic eval through transformers: at most this many sequences per generate call (the sampled "
                "pass@1's eval_k per prompt, then the greedy one's); vLLM ignores it"})
    report_to: str = field(default="none", metadata={
        "help": "experiment tracking (transformers' report_to): none, tensorboard (event files under the run "
                "directory's tensorboard/), wandb or trackio, or several joined by commas; the tracker's package "
                "must be installed"})
    log_samples_every: int = field(default=0, metadata={
        "help": "every K optimizer steps, two of the latest rollout completions with their rewards in train.log "
                "and samples.jsonl (0: never)"})
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
            ok = {"str": isinstance(value, str), "dict": isinstance(value, dict), "bool": isinstance(value, bool),
                  "int": isinstance(value, int) and not isinstance(value, bool),
                  "float": isinstance(value, int | float) and not isinstance(value, bool)}
            if not any(ok.get(k, False) for k in kinds):
                what = {"str": "a string", "dict": "a mapping", "int": "an integer", "float": "a number",
                        "bool": "true or false"}
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
        for name in ("save_every", "rollout_chunk_rows", "eval_chunk_rows"):
            if getattr(self, name) < 1:
                raise bad(name, f"must be >= 1, got {getattr(self, name)}")
        trackers = [t.strip() for t in self.report_to.split(",")]
        if any(t not in TRACKERS for t in trackers) or ("none" in trackers and len(trackers) > 1):
            raise bad("report_to", f"must be one of {', '.join(TRACKERS)} (or several of the last three joined by "
                      f"commas), got {self.report_to!r}")
        if "report_to" in self.method_args:
            raise bad("method_args.report_to", "is set by the run config's report_to field (training.report_to in "
                      "a workflow config); move it there")
        if self.log_samples_every < 0:
            raise bad("log_samples_every", f"must be >= 0 (0: never), got {self.log_samples_every}")
        if self.eval_k < 0:
            raise bad("eval_k", f"must be >= 0 (0: no sampled eval), got {self.eval_k}")
        if self.eval_k == 0 and not self.eval_greedy:
            raise bad("eval_k", "is 0 and eval_greedy is false: the periodic eval would have nothing to measure")
        if self.cadence_unit not in CADENCE_UNITS:
            raise bad("cadence_unit", f"must be one of {', '.join(CADENCE_UNITS)}, got {self.cadence_unit!r}"
                      f"{did_you_mean(self.cadence_unit, CADENCE_UNITS)}")
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
