"""metrics.jsonl of a run: one row per optimizer step from TRL's logs, the reward counters and the periodic
held-out pass@1 (docs/interfaces.md). Imported when a run starts (it needs transformers)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from gift.files import write_text

# TRL log keys -> metrics.jsonl keys (docs/interfaces.md)
METRIC_NAMES = {
    "loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm", "reward": "reward_mean",
    "reward_std": "reward_std", "completions/mean_length": "completion_length", "kl": "kl",
    "implicit_reward/mean": "implicit_reward_mean", "implicit_reward/std": "implicit_reward_std",
    "implicit_reward/group_std": "implicit_reward_group_std",
    "implicit_explicit_corr": "implicit_explicit_corr", "implied_beta": "implied_beta",
    "step_time": "step_time_s", "entropy": "entropy", "frac_reward_zero_std": "frac_reward_zero_std",
    "completions/clipped_ratio": "truncated_frac", "dynamic_sampling/kept_fraction": "kept_group_frac",
    "gft/reward_expert": "reward_expert", "gft/reward_teacher": "reward_teacher",
    "gft/reward_sampled": "reward_sampled", "gft/frac_above_tau": "frac_above_tau",
    "gft/fallback_groups": "fallback_groups",
}


def truncate_metrics(path: Path, last_step: int) -> None:
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


def _text(value: Any) -> Any:
    """A chat message list as its text (the messages' contents joined); other values as they are."""
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return "\n".join(str(m["content"]) for m in value)
    return value


def _one_line(text: Any, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def progress(step: int, total: int, clock: tuple[float, int] | None, now: float | None = None) -> str:
    """`step 12/200 (6%), 41.2 s/step, 2 h 09 min left`: the rate over the steps this process has trained (a
    resumed run counts from where it resumed), periodic evals included."""
    text = f"step {step}/{total} ({100 * step / total:.0f}%)" if total and total > 0 else f"step {step}"
    if clock is None or step <= clock[1]:
        return text
    rate = ((time.perf_counter() if now is None else now) - clock[0]) / (step - clock[1])
    text += f", {rate:.3g} s/step"
    if total and total > step:
        text += f", {_duration(rate * (total - step))} left"
    return text


def update_position(step: int, updates_per_rollout_batch: int) -> dict[str, int]:
    """Where optimizer update `step` (1-based) falls: its rollout batch (1-based, verl's trainer step) and its
    index within that batch (1..updates_per_rollout_batch)."""
    u = max(1, int(updates_per_rollout_batch))
    return {"rollout_batch": (step - 1) // u + 1, "update_in_batch": (step - 1) % u + 1}


def eval_fields(res: dict[str, Any], k: int, prefix: str) -> dict[str, Any]:
    """metrics.jsonl fields of one periodic eval, in percent: `<prefix>_pass@1` is the greedy pass@1 when it ran
    (verl's validation), else the sampled mean@k; the sampled mean@k and pass@k are kept beside it."""
    out: dict[str, Any] = {}
    if "pass@1" in res:
        out[f"{prefix}_mean@k"] = 100.0 * res["pass@1"]
        out[f"{prefix}_mean@k_stderr"] = 100.0 * (res.get("pass@1_stderr") or 0.0)
        out[f"{prefix}_pass@k"] = 100.0 * res["pass@k"]
        out[f"{prefix}_k"] = k
        out[f"{prefix}_temperature"] = res["temperature"]
    if "pass@1_greedy" in res:
        out[f"{prefix}_pass@1_greedy"] = 100.0 * res["pass@1_greedy"]
        out[f"{prefix}_pass@1"] = out[f"{prefix}_pass@1_greedy"]
        out[f"{prefix}_pass@1_stderr"] = 100.0 * (res.get("pass@1_greedy_stderr") or 0.0)
    else:
        out[f"{prefix}_pass@1"] = out[f"{prefix}_mean@k"]
        out[f"{prefix}_pass@1_stderr"] = out[f"{prefix}_mean@k_stderr"]
    return out


class RunRecorder(TrainerCallback):
    """Writes one metrics.jsonl row per optimizer step and runs the periodic held-out pass@1."""

    def __init__(self, cfg: Any, metrics_path: Path, tokenizer: Any, eval_examples: list[dict],
                 selection_examples: list[dict] | None, max_new_tokens: int, reward_funcs: list,
                 logger: logging.Logger, updates_per_rollout_batch: int = 1, eval_every_updates: int | None = None
                 ) -> None:
        self.cfg, self.metrics_path, self.tokenizer = cfg, metrics_path, tokenizer
        # a rollout batch feeds this many optimizer updates (verl's trainer step); the eval runs every
        # eval_every_updates updates (eval_every in the run's cadence_unit)
        self.updates = max(1, int(updates_per_rollout_batch))
        self.eval_every_updates = cfg.eval_every if eval_every_updates is None else eval_every_updates
        self.eval_examples, self.selection_examples = eval_examples, selection_examples or []
        self.max_new_tokens, self.reward_funcs, self.logger = max_new_tokens, reward_funcs, logger
        self.pending_eval: dict[str, Any] = {}
        self.last_counts: tuple[int, ...] = (0, 0, 0, 0)
        self.clock: tuple[float, int] | None = None  # (time, step) where this process started counting

    # ---- the callbacks ----------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kw):
        # the starting point of the eval curve: the policy before its first update (not redone on resume).
        # Every rank evaluates (sharded models need all ranks in each forward pass); rank 0 writes.
        if self._evaluates() and state.global_step == 0:
            row = {"step": 0, "epoch": 0.0, "rollout_batch": 0, **self._evaluate(model, 0)}
            if state.is_world_process_zero:
                self._write(row)
        self.clock = (time.perf_counter(), state.global_step)

    def on_step_end(self, args, state, control, model=None, **kw):
        # as verl's trainer: every eval_every (in updates here) and after the last update
        last = bool(state.max_steps) and state.global_step >= state.max_steps
        if self._evaluates() and (state.global_step % self.eval_every_updates == 0 or last):
            self.pending_eval = self._evaluate(model, state.global_step)

    def on_log(self, args, state, control, logs=None, **kw):
        # the end-of-training summary has train_loss instead of loss; only rank 0 writes
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        row: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch,
                               **update_position(state.global_step, self.updates)}
        row.update({name: float(logs[key]) for key, name in METRIC_NAMES.items() if logs.get(key) is not None})
        max_norm = float(getattr(args, "max_grad_norm", 0.0) or 0.0)
        if "grad_norm" in row:
            # transformers logs the norm before clipping; the update was scaled down when it exceeds max_grad_norm
            row["clipped"] = bool(max_norm > 0 and row["grad_norm"] > max_norm)
        row.update(self._reward_failure_fractions())
        if self.cfg.reward != "reward_model" and "reward_mean" in row:
            row["train_pass@1"] = 100.0 * row["reward_mean"]
        row.update(self.pending_eval)
        self.pending_eval = {}
        self._write(row)
        self.logger.info("%s: %s", progress(state.global_step, getattr(state, "max_steps", 0), self.clock),
                         ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))
        every = getattr(self.cfg, "log_samples_every", 0)
        if every and state.global_step % every == 0:
            self._log_samples(state.global_step)

    def _log_samples(self, step: int, n: int = 2) -> None:
        """Two of the latest rollout completions with their rewards: in train.log and in samples.jsonl."""
        logs = getattr(self.trainer, "_logs", None)  # TRL's GRPOTrainer keeps the last rollout batch here
        if not logs or not logs.get("completion"):
            return
        prompts, completions = list(logs["prompt"]), list(logs["completion"])
        rewards = {name: list(values) for name, values in logs.get("rewards", {}).items()}
        rows = []
        for i in range(min(n, len(completions))):
            row = {"step": step, "prompt": _text(prompts[i]) if i < len(prompts) else None,
                   "completion": _text(completions[i]),
                   "rewards": {name: values[i] for name, values in rewards.items() if i < len(values)}}
            rows.append(row)
            self.logger.info("step %d: sample %d, rewards %s\n  prompt: %s\n  completion: %s", step, i + 1,
                             row["rewards"], _one_line(row["prompt"]), _one_line(row["completion"]))
        with open(self.metrics_path.parent / "samples.jsonl", "a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, default=str) + "\n" for r in rows)

    # ---- the steps ---------------------------------------------------------------------------------

    trainer: Any = None  # set once the trainer exists: the periodic eval generates through it

    def _generate(self, model, tokenizer, prompts, **kwargs):
        """The eval's completions: through the trainer (its vLLM engine, or the policy with its sharded weights
        gathered, each rank a share) once it exists; plain transformers generate otherwise."""
        from gift.generation import generate, trainer_generate

        if self.trainer is None:
            return generate(model, tokenizer, prompts, backend="hf", **kwargs)
        return trainer_generate(self.trainer, tokenizer, prompts, **kwargs)

    def _evaluates(self) -> bool:
        return bool(self.cfg.eval_every and self.eval_examples)

    def _evaluate(self, model, step: int) -> dict[str, Any]:
        """Held-out pass@1 (sampled, and greedy unless the config turns it off) and, when the run has one, the
        selection split's pass@1."""
        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        res = self._pass(model, step, self.eval_examples)
        out = {**eval_fields(res, self.cfg.eval_k, "eval"), "eval_n": res["n"]}
        if self.selection_examples:
            sel = self._pass(model, step, self.selection_examples)
            out.update({**eval_fields(sel, self.cfg.eval_k, "selection"), "selection_n": sel["n"]})
        model.train(was_training)
        out["eval_time_s"] = time.perf_counter() - t0
        how = "greedy" if self.cfg.eval_greedy else f"mean@{self.cfg.eval_k}"
        self.logger.info("step %d: eval pass@1 %.2f%% (%s) on %d prompts%s", step, out["eval_pass@1"], how, res["n"],
                         f"; selection pass@1 {out['selection_pass@1']:.2f}%" if self.selection_examples else "")
        return out

    def _pass(self, model, step: int, examples: list[dict]) -> dict[str, Any]:
        from gift.evals.rlvr.pass_at_k import evaluate_pass_at_1

        cfg = self.cfg
        # a forked RNG keeps the periodic eval from changing the training trajectory
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed * 100003 + step)
            return evaluate_pass_at_1(model, self.tokenizer, examples, k=cfg.eval_k,
                                      temperature=cfg.eval_temperature, max_new_tokens=self.max_new_tokens,
                                      greedy=cfg.eval_greedy, batch_size=cfg.eval_chunk_rows, seed=cfg.seed + step,
                                      progress=False,
                                      generate_fn=self._generate)

    def _reward_failure_fractions(self) -> dict[str, float]:
        """Since the last row: the fractions of scored completions whose reward was unparsable or raised, and
        the number of math verifications stopped at their CPU-time limit (scored 0, also counted as errors)."""
        totals = [0, 0, 0, 0]  # completions, unparsed, errors, timeouts
        for func in self.reward_funcs:
            if hasattr(func, "stats"):
                st = func.stats()
                for i, key in enumerate(("completions", "unparsed", "errors", "timeouts")):
                    totals[i] += st.get(key, 0)
        calls, unparsed, errors, timeouts = (now - before for now, before in zip(totals, self.last_counts, strict=True))
        self.last_counts = tuple(totals)
        if calls <= 0:
            return {}
        return {"reward_unparsed_frac": unparsed / calls, "reward_error_frac": errors / calls,
                "reward_timeouts": timeouts}

    def _write(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
