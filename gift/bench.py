"""`gift bench step-time`: median optimizer-step time of GIFT and of TRL's GRPO on one tiny model, and their ratio.

Both methods run a reference model (GIFT for its implicit reward, GRPO for its KL at beta 0.001),
see the same prompts, batch, N and lengths, and generate exactly `--completion-length` tokens
(min_new_tokens) so that sampling differences cannot tilt the comparison. Rounds alternate the
methods in ABBA order (GIFT, GRPO, GRPO, GIFT, ...) so that drift in the machine's speed hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gift.charpolicy import build_char_policy


def _digit_reward(prompts, completions, **kwargs):
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [float(sum(ch.isdigit() for ch in t) % 2) for t in texts]


def _run(method: str, policy: Path, out: Path, ns: argparse.Namespace) -> list[float]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from gift.methods import get_method, method_config_kwargs

    rows = [{"prompt": [{"role": "user", "content": f"{i} + {i * 7 % 13} = ?"}]} for i in range(64)]
    spec = get_method(method)
    common = {"num_generations": ns.num_generations, "max_completion_length": ns.completion_length,
              "per_device_train_batch_size": ns.num_generations * ns.groups, "learning_rate": 1e-5,
              "generation_kwargs": {"min_new_tokens": ns.completion_length}, "temperature": 1.0}
    if method == "grpo":
        common["beta"] = 0.001
    kwargs = method_config_kwargs(method, common)
    args = spec.load("config")(**kwargs, output_dir=str(out), max_steps=ns.warmup + ns.steps, logging_steps=1,
                               save_strategy="no", report_to="none", use_cpu=True, bf16=False,
                               gradient_checkpointing=False, seed=ns.seed, disable_tqdm=True)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t0)

    torch.manual_seed(ns.seed)
    trainer = spec.load("trainer")(
        model=AutoModelForCausalLM.from_pretrained(policy), reward_funcs=[_digit_reward], args=args,
        train_dataset=Dataset.from_list(rows), processing_class=AutoTokenizer.from_pretrained(policy),
        callbacks=[Timer()],
    )
    trainer.train()
    return times[ns.warmup:]


def cli_step_time(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gift bench step-time", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of each round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per method, in ABBA order")
    parser.add_argument("--num-generations", type=int, default=8, help="N, responses per prompt")
    parser.add_argument("--groups", type=int, default=2, help="prompts per optimizer step")
    parser.add_argument("--completion-length", type=int, default=48, help="tokens generated per response")
    parser.add_argument("--hidden", type=int, default=128, help="hidden size of the tiny Qwen2 policy")
    parser.add_argument("--layers", type=int, default=4, help="layers of the tiny Qwen2 policy")
    parser.add_argument("--seed", type=int, default=0)
    ns = parser.parse_args(argv)
    if ns.steps < 5:
        parser.error("--steps must be at least 5 for a median")

    import torch

    times: dict[str, list[float]] = {"gift": [], "grpo": []}
    with tempfile.TemporaryDirectory(prefix="gift-bench-") as tmp:
        policy = build_char_policy(Path(tmp) / "policy", hidden=ns.hidden, layers=ns.layers, heads=4, kv_heads=2,
                                   seed=ns.seed)
        for r in range(ns.rounds):
            # ABBA order: neither method always runs first (the first run of a pair tends to be slower)
            for method in (("gift", "grpo") if r % 2 == 0 else ("grpo", "gift")):
                step_times = _run(method, policy, Path(tmp) / f"{method}-{r}", ns)
                times[method].extend(step_times)
                print(f"round {r + 1} {method}: median {statistics.median(step_times):.4f} s over "
                      f"{len(step_times)} steps", flush=True)
    med = {m: statistics.median(t) for m, t in times.items()}
    print(f"torch threads {torch.get_num_threads()}; policy hidden {ns.hidden} x {ns.layers} layers; N={ns.num_generations}, "
          f"{ns.groups} prompts/step, {ns.completion_length} tokens/response; both with a reference model")
    print(f"GIFT median step {med['gift']:.4f} s (n={len(times['gift'])}), GRPO beta=0.001 median step "
          f"{med['grpo']:.4f} s (n={len(times['grpo'])}), ratio GIFT/GRPO {med['gift'] / med['grpo']:.3f}")
    return 0
