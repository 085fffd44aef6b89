"""The run config of `gift train`: every field with its help text and its bounds or choices, read from YAML or a
dict and checked once, when it is built (a UserError names the file and the field)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import operator
import os
import re
from dataclasses import InitVar, dataclass, field
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

# The rules a field's metadata may state beside its "help"; RunConfig.__post_init__ checks each one:
#   choices: the valid values ("several": their separator where a value may join several of them);
#   min / gt / lt: value >= min, value > gt, value < lt;
#   sentinel: (value, meaning) a value outside the bounds that stands for something (max_steps -1);
#   chars: (regex character class, its description) the characters a string may hold.
# A field without a default must also be a non-empty string.
RULES = ("choices", "several", "min", "gt", "lt", "sentinel", "chars")


class RunConfigError(UserError):
    """A run config field that breaks its rules; the message names the config's source and the field."""

    def __init__(self, detail: str, source: str = "run config") -> None:
        super().__init__(f"{source}: {detail}")
        self.detail = detail


@dataclass(frozen=True)
class RunConfig:
    """One training run. Every field can be set in the run YAML; unknown keys are errors.

    Built once and checked then (types, each field's rules in its metadata, the rules that tie fields together,
    the method's arguments), so that whoever holds a RunConfig holds a valid one; frozen for that reason.
    """

    run_id: str = field(metadata={"help": "name of the run (the run directory's name by convention)",
                                  "chars": ("[A-Za-z0-9._=+-]", "letters, digits and . _ = + -")})
    method: str = field(metadata={"help": "a name in gift.methods.METHODS: gift, grpo, dapo, gspo, gft"})
    model: str = field(metadata={"help": "policy: a from_pretrained directory or a hub id (with model_revision)"})
    train_data: str = field(metadata={"help": "prepared training examples (JSONL, see docs/interfaces.md)"})
    reward: str = field(metadata={"help": "explicit reward: gsm8k, math, dapo (verl's rules), gsm8k_lenient, "
                                          "math_verify, dapo_verify (lenient) or reward_model",
                                  "choices": REWARD_KINDS})
    output_dir: str = field(metadata={"help": "the run directory"})
    model_revision: str | None = field(default=None, metadata={"help": "pinned hub revision of `model`"})
    eval_data: str | None = field(default=None, metadata={"help": "held-out examples for periodic pass@1"})
    selection_data: str | None = field(default=None, metadata={
        "help": "a second held-out split, evaluated with eval_data (selection_pass@1): a sweep picks its best "
                "value on it, so that the claims are judged on a split the choice never saw"})
    reward_model: str | None = field(default=None, metadata={"help": "reward model directory or hub id (RLHF)"})
    reward_model_revision: str | None = field(default=None, metadata={"help": "pinned hub revision of reward_model"})
    reward_args: dict = field(default_factory=dict, metadata={"help": "keyword arguments of the reward function"})
    seed: int = field(default=0, metadata={"help": "seed of data order, sampling and initialisation",
                                           "min": 0, "lt": 2**32})
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps; -1 means num_train_epochs decides",
                                                 "min": 1, "sentinel": (-1, "num_train_epochs decides")})
    num_train_epochs: float | None = field(default=None, metadata={
        "help": "epochs over train_data (if max_steps<0)", "gt": 0})
    train_limit: int | None = field(default=None, metadata={"help": "use only the first N training examples",
                                                            "min": 1})
    max_prompt_length: int | None = field(default=None, metadata={
        "help": "drop prompts longer than this (tokens)", "min": 1})
    eval_every: int = field(default=0, metadata={
        "help": "pass@1 on eval_data every K optimizer updates or rollout batches (cadence_unit; 0: never)",
        "min": 0})
    cadence_unit: str = field(default="update", metadata={
        "help": "what eval_every and save_every count: `update` (optimizer updates) or `rollout_batch` (rollout "
                "batches, verl's trainer steps: each is updates_per_rollout_batch optimizer updates)",
        "choices": CADENCE_UNITS})
    eval_limit: int | None = field(default=None, metadata={"help": "evaluate on the first N eval examples",
                                                           "min": 1})
    eval_k: int = field(default=1, metadata={
        "help": "samples per eval prompt at eval_temperature for the sampled mean@k and pass@k (0: none)",
        "min": 0})
    eval_temperature: float = field(default=1.0, metadata={
        "help": "sampling temperature of the periodic eval (the greedy pass@1 is reported beside it)", "gt": 0})
    eval_max_new_tokens: int | None = field(default=None, metadata={"help": "default: max_completion_length",
                                                                    "min": 1})
    eval_greedy: bool = field(default=True, metadata={
        "help": "greedy pass@1 at each periodic eval, one completion per prompt (verl's validation); it is then "
                "eval_pass@1, the sampled mean@k a secondary metric; false: eval_pass@1 is the sampled mean@k"})
    save_every: int = field(default=50, metadata={
        "help": "checkpoint every K optimizer updates or rollout batches (cadence_unit)", "min": 1})
    save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept on disk", "min": 1})
    rollout_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts per rollout batch, over all processes (the paper: 1024); with optimizer_batch_prompts, "
                "TRL's per-device batch, accumulation and steps_per_generation are derived at launch",
        "min": 1})
    optimizer_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts per optimizer step, over all processes (the paper: 256, so 4 updates per rollout batch)",
        "min": 1})
    micro_batch_prompts: int | None = field(default=None, metadata={
        "help": "prompts (whole groups) per process per forward/backward pass; default 1 with global sizes",
        "min": 1})
    method_args: dict = field(default_factory=dict, metadata={"help": "overrides of the method's config fields"})
    rollout_chunk_rows: int = field(default=256, metadata={
        "help": "transformers rollouts: at most this many sequences per generate call (whole groups); vLLM ignores it",
        "min": 1})
    eval_chunk_rows: int = field(default=256, metadata={
        "help": "periodic eval through transformers: at most this many sequences per generate call (the sampled "
                "pass@1's eval_k per prompt, then the greedy one's); vLLM ignores it",
        "min": 1})
    report_to: str = field(default="none", metadata={
        "help": "experiment tracking (transformers' report_to): none, tensorboard (event files under the run "
                "directory's tensorboard/), wandb or trackio, or several joined by commas; the tracker's package "
                "must be installed",
        "choices": TRACKERS, "several": ","})
    log_samples_every: int = field(default=0, metadata={
        "help": "every K optimizer steps, two of the latest rollout completions with their rewards in train.log "
                "and samples.jsonl (0: never)",
        "min": 0})
    rollout_backend: str = field(default="auto", metadata={
        "help": "who generates the rollouts: `vllm` (TRL's colocated vLLM), `hf` (transformers generate), or "
                "`auto`: vLLM when it is installed and a GPU is present, else hf. method_args.use_vllm wins.",
        "choices": ROLLOUT_BACKENDS})
    # Where each method_args key was written, {key: "experiments.fig3.method_args"}, so that an error names that
    # place instead of `method_args` (the workflow's grid passes it; a run YAML has no such key).
    method_args_where: InitVar[dict[str, str] | None] = None

    def __post_init__(self, method_args_where: dict[str, str] | None) -> None:
        for f in dataclasses.fields(self):
            _check_field(self, f)
        self._check_together()
        self._check_output_dir()
        from gift.methods import method_config_kwargs
        from gift.rewards import check_reward_args

        try:
            check_reward_args(self.reward, self.reward_args)
        except ValueError as err:
            raise RunConfigError(f"field 'reward_args' {err}") from None
        try:
            # the method's arguments are checked here; `gift train` reads the result (method_config) as it is
            resolved = method_config_kwargs(self.method, self.method_args, where_of=method_args_where)
        except ValueError as err:
            raise RunConfigError(str(err)) from None
        object.__setattr__(self, "_method_config", resolved)

    @property
    def method_config(self) -> dict[str, Any]:
        """The method's config fields: the registry's paper defaults with method_args applied, checked."""
        return copy.deepcopy(self._method_config)

    def _check_together(self) -> None:
        """The rules that tie fields together (each field's own rules are in its metadata)."""
        if (self.rollout_batch_prompts is None) != (self.optimizer_batch_prompts is None):
            raise _bad("rollout_batch_prompts/optimizer_batch_prompts", "must be set together")
        if self.micro_batch_prompts is not None and self.optimizer_batch_prompts is None:
            raise _bad("micro_batch_prompts", "needs rollout_batch_prompts and optimizer_batch_prompts")
        if self.reward == "reward_model" and not self.reward_model:
            raise _bad("reward_model", "is required when reward is 'reward_model'")
        if self.max_steps == -1 and not self.num_train_epochs:
            raise _bad("max_steps", "must be positive unless num_train_epochs is given")
        trackers = [t.strip() for t in self.report_to.split(",")]
        if "none" in trackers and len(trackers) > 1:
            raise _bad("report_to", f"joins 'none' with a tracker, got {self.report_to!r}; give one or the other")
        if "report_to" in self.method_args:
            raise _bad("method_args.report_to", "is set by the run config's report_to field (training.report_to in "
                       "a workflow config); move it there")
        if self.eval_k == 0 and not self.eval_greedy:
            raise _bad("eval_k", "is 0 and eval_greedy is false: the periodic eval would have nothing to measure")
        if self.eval_every and not self.eval_data:
            raise _bad("eval_data", "is required when eval_every > 0")

    def _check_output_dir(self) -> None:
        """output_dir is a directory, or can be made one."""
        out = Path(self.output_dir)
        if out.exists() and not out.is_dir():
            raise _bad("output_dir", f"is {out}, which is a file; name a directory (it is created if missing)")
        parent = next((p for p in out.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise _bad("output_dir", f"cannot be created: {parent} is a file")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "run config",
                  method_args_where: dict[str, str] | None = None) -> RunConfig:
        """A checked config from a mapping of fields; a UserError names `source` and the field."""
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            named = ", ".join(f"{k}{did_you_mean(k, names)}" for k in unknown)
            raise UserError(f"{source}: unknown field(s) {named}; valid fields: {', '.join(names)}")
        missing = [n for n, f in names.items() if _required(f) and data.get(n) in (None, "")]
        if missing:
            raise UserError(f"{source}: missing required field(s): {', '.join(missing)}")
        try:
            return cls(**data, method_args_where=method_args_where)
        except RunConfigError as err:
            raise RunConfigError(err.detail, source) from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> RunConfig:
        """A checked config from a run YAML; a missing, malformed or non-UTF-8 file is a UserError."""
        return cls.from_dict(read_yaml(path, "run config") or {}, source=str(path))


def _bad(name: str, why: str) -> RunConfigError:
    return RunConfigError(f"field {name!r} {why}")


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


_BOUNDS = {"min": (">=", operator.ge), "gt": (">", operator.gt), "lt": ("<", operator.lt)}
_WORDS = {"str": "a string", "dict": "a mapping", "int": "an integer", "float": "a number", "bool": "true or false"}


def _check_field(cfg: RunConfig, f: dataclasses.Field) -> None:
    """One field: its type (from the annotation), then the rules in its metadata (see RULES)."""
    kinds = [k.strip() for k in str(f.type).split("|")]
    if getattr(cfg, f.name) is None:
        if "None" not in kinds:
            raise _bad(f.name, "must be set (null is not allowed)")
        return
    value = _typed(cfg, f.name, kinds)
    if _required(f) and not value.strip():
        raise _bad(f.name, "must not be empty")
    rules = f.metadata
    if "choices" in rules:
        _check_choice(f.name, value, rules["choices"], rules.get("several"))
    if "chars" in rules and not re.fullmatch(f"{rules['chars'][0]}+", value):
        raise _bad(f.name, f"may hold only {rules['chars'][1]}, got {value!r}")
    sentinel, means = rules.get("sentinel", (None, ""))
    if value == sentinel:
        return
    for key, (op, holds) in _BOUNDS.items():
        if key in rules and not holds(value, rules[key]):
            also = f" (or {sentinel}: {means})" if means else " (or left out)" if "None" in kinds else ""
            raise _bad(f.name, f"must be {op} {rules[key]}{also}, got {value!r}")


def _typed(cfg: RunConfig, name: str, kinds: list[str]) -> Any:
    """The field's value, of one of the annotation's types (a number written as a string read as a number)."""
    value = getattr(cfg, name)
    if "float" in kinds and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-6 as a string
            value = float(value)
            object.__setattr__(cfg, name, value)
        except ValueError:
            pass
    ok = {"str": isinstance(value, str), "dict": isinstance(value, dict), "bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, int | float) and not isinstance(value, bool)}
    if not any(ok.get(k, False) for k in kinds):
        raise _bad(name, f"must be {' or '.join(_WORDS[k] for k in kinds if k in _WORDS)}, got {value!r}")
    if "float" in kinds and not math.isfinite(value):
        raise _bad(name, f"must be a finite number, got {value!r}")
    return value


def _check_choice(name: str, value: str, choices: tuple, several: str | None) -> None:
    parts = [p.strip() for p in value.split(several)] if several else [value]
    for part in parts:
        if part not in choices:
            joined = f" (or several joined by {several!r})" if several else ""
            raise _bad(name, f"must be one of {', '.join(map(str, choices))}{joined}, got {value!r}"
                       f"{did_you_mean(part, choices)}")


def field_help(width: int = 100) -> str:
    """Every run config field with its help text, its rules and its default (the epilog of `gift train --help`)."""
    import textwrap

    lines = ["run config fields (YAML keys; a field without a default is required):"]
    for f in dataclasses.fields(RunConfig):
        rules = f.metadata
        said = []
        if "choices" in rules:
            several = f", or several joined by {rules['several']!r}" if "several" in rules else ""
            said.append(f"one of {', '.join(map(str, rules['choices']))}{several}")
        said += [f"{op} {rules[key]}" for key, (op, _) in _BOUNDS.items() if key in rules]
        if "sentinel" in rules:
            said.append(f"or {rules['sentinel'][0]}: {rules['sentinel'][1]}")
        if "chars" in rules:
            said.append(f"only {rules['chars'][1]}")
        if not _required(f):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            said.append(f"default: {json.dumps(default)}")  # as YAML spells it: null, true, {}
        text = f"{rules['help']}" + (f" [{'; '.join(said)}]" if said else "")
        lines.append(textwrap.fill(text, width, initial_indent=f"  {f.name}: ", subsequent_indent=" " * 6))
    return "\n".join(lines)
