"""GPU-hours and disk a config's grid needs, from token counts and model FLOPs, with every assumption printed.

Per run, with P the policy's parameters a token passes through (a mixture of experts' active parameters,
`active_params_b`) and D the tokens a phase processes:
  training      6 P D    (forward + backward over prompt + response of every rollout), 8 P D with gradient
                         checkpointing (the forward pass runs again during the backward pass)
  reference     2 P D    per extra log-prob pass the trainer runs: the reference model's, the sampling
                         policy's (`logprob_passes`: the method config's answer, gift.trainers.passes)
  generation    2 P D    (prefill + decode of every rollout)
  eval          2 P D    periodic evals: (eval_k samples + 1 greedy) per eval prompt, at step 0 and every
                         eval_every updates or rollout batches (cadence_unit)
  reward model  2 P_rm D (RLHF runs: one forward pass of the reward model per rollout)
GPU-seconds of a phase = FLOPs / (peak FLOP/s x the phase's model FLOPs utilisation).
Disk per run (all parameters, `params_b`): save_total_limit checkpoints of 14 bytes per parameter (ZeRO-3: bf16
weights + fp32 master weights and Adam's two moments; one process or FSDP save fp32 weights and the moments, 12) and a bf16 final model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass

from gift import grid as gift_grid
from gift.batching import BatchError
from gift.batching import resolve as resolve_batch
from gift.cli import HelpFormatter

PHASES = ("train", "reference", "generation", "eval", "reward_model")
CHECKPOINT_BYTES_PER_PARAM = 14  # the largest layout, ZeRO-3's: bf16 weights 2 + fp32 master weights 4 + Adam m, v 8
FINAL_BYTES_PER_PARAM = 2  # bf16 from_pretrained directory


@dataclass
class RunEstimate:
    """The compute of one run, phase by phase."""

    run_id: str
    params_b: float
    num_processes: int
    prompts_per_step: float
    steps: int
    rollouts: float
    tokens_per_rollout: float
    train_tokens: float
    flops: dict[str, float]
    gpu_hours: dict[str, float]
    passes: dict[str, int]
    disk_gb: dict[str, float]
    # parameters a token passes through: a mixture of experts' active ones (None: all of params_b)
    active_params_b: float | None = None

    @property
    def total_gpu_hours(self) -> float:
        return sum(self.gpu_hours.values())


def _need(mapping: dict, key: str, where: str):
    if key not in mapping or mapping[key] is None:
        raise gift_grid.ConfigError(f"{where}.{key}: gift estimate needs it")
    return mapping[key]


def active_params_b(spec: dict, where: str) -> float:
    """Parameters a token passes through, in billions: `active_params_b` for a mixture of experts, else params_b."""
    total = float(_need(spec, "params_b", where))
    active = spec.get("active_params_b")
    if active is None:
        return total
    if not 0 < float(active) <= total:
        raise gift_grid.ConfigError(f"{where}.active_params_b: must be in (0, params_b = {total:g}], got {active}")
    return float(active)


def resolved_method_args(method: str, method_args: dict) -> dict:
    """Every field of the method's trainer config as a run gets it: class defaults, registry defaults, overrides."""
    import dataclasses

    from gift.trainers.registry import method_classes

    out = {}
    for f in dataclasses.fields(method_classes(method).config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    out.update(gift_grid.method_defaults(method))
    out.update(method_args)
    return out


def logprob_passes(method: str, args: dict, use_vllm: bool) -> dict[str, int]:
    """Scoring passes per rollout besides the training pass ({"reference": 0/1, "old_policy": 0/1}), as the
    method's config answers them (gift.trainers.passes) for fields `args` with rollouts from vLLM or not."""
    from gift.trainers.passes import forward_passes

    return forward_passes(method, {**args, "use_vllm": use_vllm}).extra()


def _eval_workload(cfg: dict, dataset: str, limit: int | None, cap: float | None) -> tuple[int, float]:
    """(problems, tokens per answer) of an evaluation on `dataset`: its test split up to `limit` problems, each
    answer the prompt plus the dataset's mean response, cut at `cap` new tokens."""
    est = cfg["estimate"]
    espec = cfg["datasets"][dataset]
    size = int(_need(espec.get("num_examples", {}), espec.get("eval_split", "test"),
                     f"datasets.{dataset}.num_examples"))
    if limit:
        size = min(size, int(limit))
    completion = float(_need(est["completion_tokens"], dataset, "estimate.completion_tokens"))
    if cap:
        completion = min(completion, float(cap))
    return size, float(_need(est["prompt_tokens"], dataset, "estimate.prompt_tokens")) + completion


def _periodic_eval_flops(cfg: dict, run: gift_grid.Run, params: float, steps: int,
                         max_completion: int | None, updates_per_batch: int = 1) -> float:
    """The held-out pass@1 during training: at step 0 and every eval_every optimizer updates (or rollout batches
    of `updates_per_batch` updates, `cadence_unit: rollout_batch`), eval_k sampled and (unless eval_greedy is
    off) one greedy completion for each of the eval_limit first test problems."""
    if not run.eval_dataset or int(run.training.get("eval_every", 0)) <= 0:
        return 0.0
    size, tokens = _eval_workload(cfg, run.eval_dataset, run.training.get("eval_limit"),
                                  run.training.get("eval_max_new_tokens") or max_completion)
    every = int(run.training["eval_every"])
    if run.training.get("cadence_unit", "update") == "rollout_batch":
        every *= updates_per_batch
    n_evals = steps // every + 1 + (1 if steps % every else 0)  # and step 0, and the last step
    samples = int(run.training.get("eval_k", 1)) + int(run.training.get("eval_greedy", True))  # sampled, greedy
    return 2 * params * n_evals * size * samples * tokens


def _final_rlvr_flops(grid: gift_grid.Grid, run: gift_grid.Run, params: float) -> float:
    """The evaluation of the run's final model on its eval dataset (`evaluate: [rlvr]`): k sampled and (unless
    evaluation.rlvr.greedy is off) one greedy completion per test problem, at evaluation.rlvr.max_new_tokens or
    the run's training response length."""
    from gift.grid.evals import rlvr_max_new_tokens

    model = grid.models.get(run.run_id)
    if not run.eval_dataset or model is None or gift_grid.rlvr_eval_name(run.eval_dataset) not in model.evals:
        return 0.0
    rlvr = (grid.config.get("evaluation") or {}).get("rlvr") or {}
    size, tokens = _eval_workload(grid.config, run.eval_dataset, rlvr.get("limit"),
                                  rlvr_max_new_tokens(grid, run.run_id))
    return 2 * params * size * (int(rlvr.get("k", 4)) + int(rlvr.get("greedy", True))) * tokens


def estimate_run(grid: gift_grid.Grid, run_id: str) -> RunEstimate:
    """The compute of one run of the grid under the config's `estimate` assumptions."""
    cfg = grid.config
    est = cfg.get("estimate")
    if not est:
        raise gift_grid.ConfigError("estimate: the config has no `estimate` section (assumptions of gift estimate)")
    run = grid.runs[run_id]
    args = resolved_method_args(run.method, run.method_args)
    use_vllm = est.get("rollout_backend", "vllm" if cfg.get("device") == "gpu" else "hf") == "vllm"
    total_params = float(_need(cfg["backbones"][run.backbone], "params_b", f"backbones.{run.backbone}")) * 1e9
    # FLOPs follow the parameters a token passes through: a mixture of experts' active ones (disk: all of them)
    params = active_params_b(cfg["backbones"][run.backbone], f"backbones.{run.backbone}") * 1e9
    nproc = int(est.get("num_processes", 1))
    n = int(_need(args, "num_generations", f"run {run_id} method_args"))
    try:
        from gift.methods import method_config_kwargs

        # the per-device batch, accumulation and steps_per_generation the run derives at launch, from what
        # `gift train` passes (the registry's defaults and the run's overrides), over the class defaults
        derived, plan = resolve_batch(method_config_kwargs(run.method, run.method_args),
                                      run.training.get("rollout_batch_prompts"),
                                      run.training.get("optimizer_batch_prompts"),
                                      run.training.get("micro_batch_prompts"), nproc)
        args = {**args, **derived}
    except BatchError as err:
        raise gift_grid.ConfigError(f"run {run_id} on estimate.num_processes = {nproc}: {err}") from None
    prompts_per_step = plan["optimizer_batch_prompts"]

    dspec = cfg["datasets"][run.dataset]
    split = dspec.get("train_split", "train")
    size = int(_need(dspec.get("num_examples", {}), split, f"datasets.{run.dataset}.num_examples"))
    if run.training.get("train_limit"):
        size = min(size, int(run.training["train_limit"]))
    max_steps = int(run.training.get("max_steps", -1))
    if max_steps > 0:
        steps = max_steps
        prompts = steps * prompts_per_step
    else:
        epochs = float(run.training["num_train_epochs"])
        steps = math.ceil(epochs * size / prompts_per_step)
        prompts = epochs * size
    rollouts = prompts * n

    max_completion = args.get("max_completion_length")
    t_prompt = float(_need(est["prompt_tokens"], run.dataset, "estimate.prompt_tokens"))
    t_completion = float(_need(est["completion_tokens"], run.dataset, "estimate.completion_tokens"))
    if max_completion:
        t_completion = min(t_completion, float(max_completion))
    tokens = t_prompt + t_completion
    train_tokens = rollouts * tokens

    flops = dict.fromkeys(PHASES, 0.0)
    checkpointing = bool(args.get("gradient_checkpointing"))
    flops["train"] = (8 if checkpointing else 6) * params * train_tokens
    passes = logprob_passes(run.method, args, use_vllm)
    flops["reference"] = 2 * params * train_tokens * sum(passes.values())
    # GFT generates only its sampled members; the expert and teacher responses come from the data.
    sampled = float(args["n_sampled"]) / n if run.method == "gft" and args.get("n_sampled") else 1.0
    flops["generation"] = 2 * params * train_tokens * sampled
    updates_per_batch = int(plan["updates_per_rollout_batch"]) if float(plan["updates_per_rollout_batch"]).is_integer() else 1
    flops["eval"] = (_periodic_eval_flops(cfg, run, params, steps, max_completion, updates_per_batch)
                     + _final_rlvr_flops(grid, run, params))
    if run.reward_model:
        rm_params = float(_need(cfg["reward_models"][run.reward_model], "params_b",
                                f"reward_models.{run.reward_model}")) * 1e9
        flops["reward_model"] = 2 * rm_params * train_tokens

    peak = float(est["peak_tflops"]) * 1e12
    mfu = est["mfu"]
    phase_mfu = {"train": mfu["train"], "reference": mfu["reference"], "generation": mfu["generation"],
                 "eval": mfu["generation"], "reward_model": mfu["reference"]}
    gpu_hours = {p: flops[p] / (peak * phase_mfu[p]) / 3600 for p in PHASES}
    kept = run.training.get("save_total_limit", 2) or 0
    save_every = int(run.training.get("save_every") or 1)
    if run.training.get("cadence_unit", "update") == "rollout_batch":
        save_every *= updates_per_batch
    if steps < save_every:
        kept = 0
    disk = {"checkpoints": kept * CHECKPOINT_BYTES_PER_PARAM * total_params / 1e9,
            "final": FINAL_BYTES_PER_PARAM * total_params / 1e9}
    return RunEstimate(run_id=run_id, params_b=total_params / 1e9, active_params_b=params / 1e9, num_processes=nproc,
                       prompts_per_step=prompts_per_step,
                       steps=steps, rollouts=rollouts, tokens_per_rollout=tokens, train_tokens=train_tokens,
                       flops=flops, gpu_hours=gpu_hours, passes=passes, disk_gb=disk)


def estimate(grid: gift_grid.Grid) -> list[RunEstimate]:
    """Every run of the grid."""
    return [estimate_run(grid, run_id) for run_id in grid.runs]


def assumptions(config: dict) -> list[str]:
    """The assumptions behind the numbers, one line each."""
    est = config["estimate"]
    mfu = est["mfu"]
    lines = [
        f"GPU: {est['gpu']}, peak {est['peak_tflops']} TFLOP/s per GPU; {_count(est.get('num_processes', 1), 'GPU')} "
        "per run",
        f"MFU: training {mfu['train']:.0%}, reference/old-policy log-probs and reward model {mfu['reference']:.0%}, "
        f"generation and evals {mfu['generation']:.0%}",
        "FLOPs: P = the parameters a token passes through (a mixture of experts' active_params_b; memory and disk "
        "count all params_b); training 6*P*D (fwd+bwd), 8*P*D with gradient checkpointing (the run's "
        "gradient_checkpointing), each extra log-prob pass 2*P*D, generation 2*P*D per token "
        "(prefill and decode alike), reward model 2*P_rm*D; attention's quadratic term is ignored",
        "D = rollouts x (mean prompt tokens + mean response tokens); mean response tokens capped at "
        "max_completion_length",
        "rollouts = epochs x prompts x N (or max_steps x prompts per step x N); prompts per step = "
        "optimizer_batch_prompts (or per_device_train_batch_size x gradient_accumulation_steps x GPUs / N)",
        "every group member is generated, except GFT's expert and teacher members (n_sampled of num_generations)",
        "periodic evals: eval_k sampled + 1 greedy completion per eval prompt (eval_limit of them), at step 0 "
        "and every eval_every updates or rollout batches (cadence_unit), plus the final model's RLVR evaluation "
        "(evaluation.rlvr: k sampled + 1 greedy per test problem, at the training response length unless "
        "max_new_tokens is set) where an experiment asks for it; the other post-training benchmarks (lm-eval, "
        "AlpacaEval, "
        "Arena-Hard) "
        "and judge API calls are not included",
        f"rollouts by {est.get('rollout_backend', 'vllm' if config.get('device') == 'gpu' else 'hf')}; extra "
        "log-prob passes per rollout (reference model, sampling policy) follow the trainers' conditions "
        "(gift.estimate.logprob_passes), listed per run",
        f"disk: save_total_limit checkpoints of at most {CHECKPOINT_BYTES_PER_PARAM} bytes/parameter (ZeRO-3's bf16 "
        f"weights, fp32 master weights, Adam moments) + a {FINAL_BYTES_PER_PARAM} bytes/parameter final model per run, all kept",
        "mean prompt tokens: " + ", ".join(f"{k} {v:g}" for k, v in est["prompt_tokens"].items()),
        "mean response tokens: " + ", ".join(f"{k} {v:g}" for k, v in est["completion_tokens"].items()),
    ]
    for name, spec in config["datasets"].items():
        if spec.get("num_examples"):
            lines.append(f"dataset {name}: " + ", ".join(f"{s} {n}" for s, n in spec["num_examples"].items())
                         + " examples")
    return lines


def _count(n: int, unit: str) -> str:
    """`1 GPU`, `8 GPUs`."""
    return f"{n} {unit}{'' if n == 1 else 's'}"


def hours(x: float) -> str:
    """GPU-hours with the digits that matter at their size: 0.18, 4.8, 23.0, 1,550."""
    if x < 10:
        return f"{x:.2f}"
    if x < 100:
        return f"{x:.1f}"
    return f"{x:,.0f}"


def _duration(h: float) -> str:
    """`3.1 hours`, `45 minutes`, `65 days (1,550 hours)`."""
    if h < 1:
        return f"{h * 60:.0f} minutes"
    if h < 72:
        return f"{h:.1f} hours"
    return f"{h / 24:,.0f} days ({h:,.0f} hours)"


def wall_hours(rows: list[RunEstimate], gpus: int) -> float:
    """Wall time of the runs on `gpus` GPUs, each run holding its num_processes of them: longest runs first, each
    to the GPUs that free up first (the runs do not wait for each other; jobs start as GPUs free up)."""
    import heapq

    per_run = max((r.num_processes for r in rows), default=1)
    slots = [0.0] * max(gpus // per_run, 1)  # when each group of per_run GPUs is next free
    for r in sorted(rows, key=lambda r: -r.total_gpu_hours / r.num_processes):
        heapq.heapreplace(slots, slots[0] + r.total_gpu_hours / r.num_processes)
    return max(slots, default=0.0)


def summary(config: dict, rows: list[RunEstimate]) -> list[str]:
    """The total, the wall time on the config's GPUs (and on one GPU where a run needs one), disk, the longest
    run."""
    total = sum(r.total_gpu_hours for r in rows)
    nproc = max((r.num_processes for r in rows), default=1)
    node = int((config.get("cluster") or {}).get("gpus_per_node") or nproc)
    lines = [f"Total: {hours(total)} GPU-hours for {_count(len(rows), 'training run')}"
             + (f" ({total / 24:,.1f} GPU-days)" if total >= 48 else "")]
    lines.append(f"Wall time on one node of {_count(node, 'GPU')} (cluster.gpus_per_node), "
                 f"{_count(nproc, 'GPU')} per run, {node // nproc} at once: about "
                 f"{_duration(wall_hours(rows, node))}")
    if nproc == 1 and node > 1:
        lines.append(f"Wall time on one GPU, one run after another: about {_duration(total)}")
    disk = sum(sum(r.disk_gb.values()) for r in rows)
    lines.append(f"Disk: {disk / 1000:,.1f} TB of checkpoints and final models if every run keeps them "
                 f"({sum(r.disk_gb['final'] for r in rows) / 1000:,.1f} TB of final models)")
    longest = max(rows, key=lambda r: r.total_gpu_hours / r.num_processes, default=None)
    if longest:
        lines.append(f"Longest run: {longest.run_id}, {_duration(longest.total_gpu_hours / longest.num_processes)} "
                     f"on {_count(longest.num_processes, 'GPU')}")
    return lines


def format_table(rows: list[RunEstimate]) -> str:
    """A fixed-width table of the runs and the total."""
    head = (f"{'run':<52} {'P(B)':>5} {'steps':>6} {'rollouts':>10} {'tokens(B)':>9} {'passes':>6} "
            f"{'train':>8} {'ref':>8} {'gen':>8} {'eval':>7} {'rm':>7} {'GPU-h':>9} {'disk GB':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        g = r.gpu_hours
        passes = f"{r.passes['reference']}r+{r.passes['old_policy']}o"
        lines.append(f"{r.run_id:<52} {r.params_b:>5.1f} {r.steps:>6d} {r.rollouts:>10.3g} {r.train_tokens / 1e9:>9.2f} "
                     f"{passes:>6} {hours(g['train']):>8} {hours(g['reference']):>8} {hours(g['generation']):>8} "
                     f"{hours(g['eval']):>7} {hours(g['reward_model']):>7} {hours(r.total_gpu_hours):>9} "
                     f"{sum(r.disk_gb.values()):>8.0f}")
    total = {p: sum(r.gpu_hours[p] for r in rows) for p in PHASES}
    lines.append("-" * len(head))
    lines.append(f"{'total (' + str(len(rows)) + ' runs)':<52} {'':>5} {'':>6} {'':>10} "
                 f"{sum(r.train_tokens for r in rows) / 1e9:>9.1f} {'':>6} {hours(total['train']):>8} "
                 f"{hours(total['reference']):>8} {hours(total['generation']):>8} {hours(total['eval']):>7} "
                 f"{hours(total['reward_model']):>7} {hours(sum(total.values())):>9} "
                 f"{sum(sum(r.disk_gb.values()) for r in rows):>8.0f}")
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    """Entry point of `gift estimate`."""
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift estimate", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a workflow config, e.g. config/node.yaml or config/paper.yaml")
    parser.add_argument("--json", action="store_true", help="print the per-run numbers as JSON instead")
    args = parser.parse_args(argv)
    try:
        config = gift_grid.load_checked(args.config)
        if config.get("device") != "gpu" and not config.get("estimate"):
            # a CPU config's cost is minutes of CPU, measured rather than estimated
            print(f"{args.config}: a CPU config (device: cpu): it runs on this machine's cores, no GPU-hours to "
                  "estimate; measured wall and CPU times of the CPU configs are in docs/timings.md")
            return 0
        grid = gift_grid.expand(config)
        rows = estimate(grid)
    except (gift_grid.ConfigError, OSError) as err:
        print(f"gift estimate: {args.config}: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{**asdict(r), "total_gpu_hours": r.total_gpu_hours} for r in rows], indent=2))
        return 0
    print(f"Compute estimate for {args.config} ({len(rows)} training runs)\n")
    print("Assumptions:")
    for line in assumptions(config):
        print(f"  - {line}")
    print("\nGPU-hours per run (train = fwd+bwd, ref = extra log-prob passes, gen = rollouts, eval = periodic "
          "evals, rm = reward model):\n")
    print(format_table(rows))
    print()
    print("\n".join(summary(config, rows)))
    return 0
