"""`gift bench step-time`: time per optimizer update of GIFT and of TRL's GRPO on one tiny model, as paired ratios.

Two scenarios: one update per rollout batch, and the paper's structure, in which each rollout batch is
split into 4 mini-batches with one optimizer update each. GIFT runs with its registry defaults (the
implicit reward's reference as the paper sets it), GRPO with its KL term at beta 0.001, so both keep
the forward passes their losses read. Both see the same prompts, batch, N and lengths, and generate
exactly `--completion-length` tokens (min_new_tokens) so that sampling cannot tilt the comparison.

Each pair is four training runs in ABBA order (GIFT, GRPO, GRPO, GIFT; the next pair BAAB), timed per
rollout-batch cycle after warm-up cycles; the pair's ratio is GIFT's mean over GRPO's mean, so drift
in the machine's speed within a pair hits both alike. The figure is the median of the pairs' ratios,
with their middle half and range. Threads are pinned (`--threads`, default 1) so that a busy machine
changes the speed of both methods rather than how many cores each gets, and the clock is the process's
CPU time by default (`--clock cpu`): with one thread it is the step's compute, which other processes
on a shared machine barely change; `--clock wall` times what a user waits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from gift.charpolicy import build_char_policy
from gift.cli_help import HelpFormatter

SCENARIOS = (("one update per rollout batch", 1), ("paper structure, 4 updates per rollout batch", 4))


def _digit_reward(prompts, completions, **kwargs):
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [float(sum(ch.isdigit() for ch in t) % 2) for t in texts]


def _run(method: str, policy: Path, out: Path, ns: argparse.Namespace, updates: int) -> list[float]:
    """Seconds per optimizer update of each timed rollout-batch cycle of one training run."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback

    from gift.methods import get_method, method_config_kwargs

    rows = [{"prompt": [{"role": "user", "content": f"{i} + {i * 7 % 13} = ?"}]} for i in range(256)]
    spec = get_method(method)
    common = {"num_generations": ns.num_generations, "max_completion_length": ns.completion_length,
              "per_device_train_batch_size": ns.num_generations * ns.groups, "gradient_accumulation_steps": 1,
              "steps_per_generation": updates, "learning_rate": 1e-5,
              "generation_kwargs": {"min_new_tokens": ns.completion_length}, "temperature": 1.0}
    if method == "grpo":
        common["beta"] = 0.001
    kwargs = method_config_kwargs(method, common)
    cycles = ns.warmup + ns.cycles
    args = spec.load("config")(**kwargs, output_dir=str(out), max_steps=cycles * updates, logging_steps=1,
                               save_strategy="no", report_to="none", use_cpu=True, bf16=False,
                               gradient_checkpointing=False, seed=ns.seed, disable_tqdm=True)
    step_times: list[float] = []
    clock = time.process_time if ns.clock == "cpu" else time.perf_counter

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = clock()

        def on_step_end(self, *a, **k):
            step_times.append(clock() - self.t0)

    torch.manual_seed(ns.seed)
    trainer = spec.load("trainer")(
        model=AutoModelForCausalLM.from_pretrained(policy), reward_funcs=[_digit_reward], args=args,
        train_dataset=Dataset.from_list(rows), processing_class=AutoTokenizer.from_pretrained(policy),
        callbacks=[Timer()],
    )
    trainer.remove_callback(PrinterCallback)  # one dict of metrics per step would bury the figures
    trainer.train()
    # a cycle is one rollout batch: its generation and scoring (in its first step) and its `updates` updates
    per_cycle = [sum(step_times[c * updates:(c + 1) * updates]) / updates for c in range(cycles)]
    return per_cycle[ns.warmup:]


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _pin_threads(threads: int, cpus: list[int] | None) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def cli_step_time(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift bench step-time", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4, help="ABBA blocks (paired ratios) per scenario")
    parser.add_argument("--cycles", type=int, default=3, help="timed rollout-batch cycles per run (after warm-up)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rollout-batch cycles at the start of each run")
    parser.add_argument("--num-generations", type=int, default=8, help="N, responses per prompt")
    parser.add_argument("--groups", type=int, default=2, help="prompts per optimizer update")
    parser.add_argument("--completion-length", type=int, default=48, help="tokens generated per response")
    parser.add_argument("--hidden", type=int, default=128, help="hidden size of the tiny Qwen2 policy")
    parser.add_argument("--layers", type=int, default=4, help="layers of the tiny Qwen2 policy")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads, fixed for every run")
    parser.add_argument("--cpus", type=int, nargs="*", default=None,
                        help="pin the process to these CPU cores (default: as the OS schedules)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time steps by the process's CPU time (robust on a shared machine) or by the wall clock")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tiny policy and the prompts")
    ns = parser.parse_args(argv)
    if ns.pairs < 1 or ns.cycles < 1 or ns.warmup < 0 or ns.threads < 1:
        parser.error("--pairs, --cycles and --threads must be >= 1, --warmup >= 0")

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _pin_threads(ns.threads, ns.cpus)
    from gift.methods import method_config_kwargs

    reference = method_config_kwargs("gift").get("implicit_reference")
    print(f"torch threads {torch.get_num_threads()}; policy hidden {ns.hidden} x {ns.layers} layers; "
          f"N={ns.num_generations}, {ns.groups} prompts per update, {ns.completion_length} tokens per response; "
          f"GIFT implicit_reference={reference}, GRPO beta=0.001; {ns.clock} clock", flush=True)
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gift-bench-") as tmp:
        policy = build_char_policy(Path(tmp) / "policy", hidden=ns.hidden, layers=ns.layers, heads=4, kv_heads=2,
                                   seed=ns.seed)
        for name, updates in SCENARIOS:
            ratios = []
            for p in range(ns.pairs):
                # ABBA within the pair, and the next pair BAAB: neither method always runs first
                order = ("gift", "grpo", "grpo", "gift") if p % 2 == 0 else ("grpo", "gift", "gift", "grpo")
                times: dict[str, list[float]] = {"gift": [], "grpo": []}
                for i, method in enumerate(order):
                    times[method].append(statistics.median(_run(method, policy, Path(tmp) / f"{updates}-{p}-{i}",
                                                                ns, updates)))
                gift, grpo = statistics.fmean(times["gift"]), statistics.fmean(times["grpo"])
                ratios.append(gift / grpo)
                print(f"{name}: pair {p + 1} ({', '.join(m.upper() for m in order)}): GIFT {gift:.4f} s, "
                      f"GRPO {grpo:.4f} s per update, ratio {gift / grpo:.3f}", flush=True)
            lo, hi = _quartiles(ratios)
            summary.append(f"{name}: {len(ratios)} paired ratios, middle half {lo:.3f}-{hi:.3f}, range "
                           f"{min(ratios):.3f}-{max(ratios):.3f}; GIFT/GRPO median {statistics.median(ratios):.3f}")
    for line in summary:
        print(line)
    return 0
