"""Synthetic run directories, eval-result JSONs and a grid in the documented formats, for the report tests.

The curves are closed-form (saturating exponentials plus seeded noise), so a test knows the answer a
rule must give before the report computes it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gift.files import write_json, write_jsonl, write_text


def write_run_dir(path: str | os.PathLike, metrics: Sequence[dict], config: dict | None = None,
                  seed: int | None = None, done: bool = True) -> Path:
    """A run directory as `gift train` leaves it: manifest.json, metrics.jsonl and (when `done`) DONE."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / "manifest.json", {"config": config or {}, "seed": seed, "versions": {}, "git_commit": None})
    write_jsonl(path / "metrics.jsonl", metrics)
    if done:
        write_text(path / "DONE", "")
    return path


def write_eval_json(path: str | os.PathLike, model: str, eval_name: str, values: dict[str, float | None],
                    n: int = 100, stderr: float | None = 0.5) -> Path:
    """An eval-result JSON (docs/interfaces.md) with one metric per key of `values`."""
    path = Path(path)
    write_json(path, {"model": model, "model_path": f"runs/{model}/final", "eval": eval_name,
                      "metrics": {k: {"value": v, "stderr": stderr, "n": n, "metric": k} for k, v in values.items()},
                      "details": {}, "provenance": {"created": "synthetic", "git_commit": None, "versions": {},
                                                    "argv": []}})
    return path


def saturating(step: float, start: float, end: float, rate: float) -> float:
    """start + (end - start) * (1 - exp(-rate * step)): a learning curve that levels off at `end`."""
    return start + (end - start) * (1.0 - math.exp(-rate * step))


def curve_metrics(steps: int, eval_every: int, train: Callable[[int], float], eval_: Callable[[int], float],
                  length: Callable[[int], float] | None = None, reward: Callable[[int], float] | None = None,
                  corr: Callable[[int], float] | None = None, beta: Callable[[int], float] | None = None,
                  noise: float = 0.0, seed: int = 0, eval_se: float | None = 0.5,
                  grad_norm: Callable[[int], float] | None = None, grad_noise: float = 0.0) -> list[dict]:
    """metrics.jsonl rows for steps 1..`steps`; eval keys every `eval_every` steps; pass rates in percent.

    `eval_se` is the logged standard error of each eval pass@1 (None: not logged); `grad_norm` the gradient
    norm's centre, scattered by a factor 10**(grad_noise * standard normal).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, steps + 1):
        row = {"step": s, "epoch": s / steps, "loss": 1.0 / s, "learning_rate": 1e-6,
               "train_pass@1": train(s) + noise * float(rng.standard_normal())}
        row["reward_mean"] = (reward(s) if reward else row["train_pass@1"] / 100.0)
        row["completion_length"] = length(s) if length else 100.0
        if corr:
            row["implicit_explicit_corr"] = corr(s)
        if beta:
            row["implied_beta"] = beta(s)
        if grad_norm:
            row["grad_norm"] = grad_norm(s) * 10.0 ** (grad_noise * float(rng.standard_normal()))
        if s % eval_every == 0:
            row["eval_pass@1"] = eval_(s) + noise * float(rng.standard_normal())
            row["eval_n"] = 50
            if eval_se is not None:
                row["eval_pass@1_stderr"] = eval_se
        rows.append(row)
    return rows


@dataclass
class SyntheticResults:
    """Where a synthetic results tree lies and what it holds."""

    root: Path
    grid_path: Path
    grid: list[dict]
    run_dirs: dict[str, Path] = field(default_factory=dict)
    eval_paths: list[Path] = field(default_factory=list)

    def runs_of(self, figure: str) -> list[str]:
        """Directories of the runs the grid assigns to `figure`, as the workflow passes them."""
        return [str(self.run_dirs[e["run_id"]]) for e in self.grid
                if e.get("run_id") in self.run_dirs and figure in (e.get("figure") or [])]


def synthetic_results(root: str | os.PathLike, seeds: Sequence[int] = (0, 1), gift_better: bool = True,
                      steps: int = 40, skip: Sequence[str] = (), paper_rows: bool = False,
                      larger_backbone: bool = True) -> SyntheticResults:
    """A results tree covering every figure and table: Fig 2a (N in 2..32), 2b, 3 (two datasets), 5 (length),
    6 (reward), and evaluated GIFT/GRPO/base models for Tables 2 and 3.

    `gift_better` makes GIFT the faster-converging, less-overfitting, longer-answering, higher-scoring method
    (and kl_sum better than kl_average, gains flattening beyond N = 16); False reverses each of these.
    With `larger_backbone`, Figure 4 runs (backbone tiny32, the 32B role) widen GIFT's lead at the end.
    Run ids in `skip` are in the grid but get no directory (they render as 'not run'). With `paper_rows`
    the evaluated models are mapped to the paper's rows ("7B-GIFT", ...); otherwise they have none.
    """
    root = Path(root)
    grid: list[dict] = []
    res = SyntheticResults(root=root, grid_path=root / "grid.json", grid=grid)
    sign = 1.0 if gift_better else -1.0

    def add_run(run_id: str, figure: list[str], backbone: str, dataset: str, method: str, variant: dict, seed: int,
                rows: list[dict], eval_dataset: str | None = None, model: dict | None = None) -> None:
        entry = {"run_id": run_id, "figure": figure, "panel": None, "backbone": backbone,
                 "backbone_label": backbone, "dataset": dataset, "eval_dataset": eval_dataset or dataset,
                 "method": method, "variant": variant, "seed": seed, "model_id": None, "model_label": None,
                 "paper_row": None, "tables": [], "evals": {}}
        entry.update(model or {})
        grid.append(entry)
        if run_id in skip:
            return
        res.run_dirs[run_id] = write_run_dir(root / "runs" / run_id, rows, config={"method": method}, seed=seed)

    # Figure 2a: final eval pass@1 rises with N and flattens beyond 16 (or falls, reversed).
    n_final = {2: 30.0, 4: 40.0, 8: 48.0, 16: 54.0, 32: 55.0}
    for n, fin in n_final.items():
        fin = fin if gift_better else 90.0 - fin
        for seed in seeds:
            rows = curve_metrics(steps, 5, lambda s, f=fin: saturating(s, 10, f + 5, 0.15),
                                 lambda s, f=fin: saturating(s, 10, f, 0.15), seed=seed)
            add_run(f"tiny-gsm8k-gift-n{n}-s{seed}", ["fig2a"], "tiny", "gsm8k", "gift", {"num_generations": n},
                    seed, rows)
    # Figure 2b: kl_sum ends higher than kl_average (or lower).
    for agg, fin in (("sum", 50.0), ("mean", 50.0 - 10.0 * sign)):
        for seed in seeds:
            rows = curve_metrics(steps, 5, lambda s, f=fin: saturating(s, 10, f + 5, 0.15),
                                 lambda s, f=fin: saturating(s, 10, f, 0.15), seed=seed)
            add_run(f"tiny-gsm8k-gift-kl_{agg}-s{seed}", ["fig2b"], "tiny", "gsm8k", "gift",
                    {"implicit_aggregation": agg}, seed, rows)
    # Figure 3 (and the correlation figure): GIFT rises faster; on GSM8K GRPO's train pass@1 runs away
    # from its eval pass@1. Figure 4 (the 32B role): the same with a wider gap at the end. GIFT's gradient
    # norm is clipped at its first step only; GRPO's scatters around the threshold (or the reverse).
    fast, slow = (0.3, 0.05) if gift_better else (0.05, 0.3)
    steady, erratic = (lambda s: 50.0 if s == 1 else 0.3, 0.02), (lambda s: 1.0, 0.4)
    panels = (("fig3", "tiny", 0.0),) + ((("fig4", "tiny32", 15.0),) if larger_backbone else ())
    for fig, backbone, gap in panels:
        for dataset in ("gsm8k", "math"):
            for method, rate in (("gift", fast), ("grpo", slow)):
                overfits = (method == "grpo") == gift_better
                top = 60.0 + (gap / 2 if (method == "gift") == gift_better else -gap / 2)
                train_top = 80.0 + gap if overfits else 62.0
                grad, grad_noise = steady if (method == "gift") == gift_better else erratic
                for seed in seeds:
                    rows = curve_metrics(
                        steps, 4, lambda s, r=rate, t=train_top: saturating(s, 10, t, r),
                        lambda s, r=rate, t=top: saturating(s, 10, t, r), noise=0.5, seed=seed,
                        corr=(lambda s: saturating(s, 0.0, 0.8, 0.1)) if method == "gift" else None,
                        beta=(lambda s: 1.0 + 4.0 * math.exp(-0.1 * s)) if method == "gift" else None,
                        grad_norm=grad, grad_noise=grad_noise)
                    prefix = "tiny" if fig == "fig3" else backbone
                    figs = ["fig3", "fig_correlation"] if fig == "fig3" else ["fig4"]
                    add_run(f"{prefix}-{dataset}-{method}-s{seed}", figs, backbone, dataset, method, {}, seed, rows)
    # Figure 5: GIFT's responses grow (or shrink). Two backbones as in the paper: on the Qwen3 one GIFT and GRPO
    # end level; on the other (the Qwen2.5-32B role), with `larger_backbone`, GIFT ends ahead (or behind).
    fig5 = (("tiny", "tiny (Qwen3 role)", 0.0),) + ((("tiny32", "tiny32", 6.0),) if larger_backbone else ())
    for backbone, blabel, gap in fig5:
        for method in ("gift", "grpo"):
            for seed in seeds:
                grow = 3.0 * sign if method == "gift" else 0.5
                top = 20.0 + (sign * gap if method == "gift" else 0.0)
                rows = curve_metrics(steps, 5, lambda s: saturating(s, 5, 30, 0.1),
                                     lambda s, t=top: saturating(s, 2, t, 0.1),
                                     length=lambda s, g=grow: 200.0 + g * s, seed=seed, noise=0.3 if gap else 0.0)
                add_run(f"{backbone}-dapo-{method}-s{seed}", ["fig5"], backbone, "dapo_math", method, {}, seed, rows,
                        eval_dataset="aime2024")
                grid[-1]["backbone_label"] = blabel
    # Figure 6 and Tables 2-3: RLHF runs whose final models are evaluated.
    t2 = ("truthfulqa", "bbq", "mbpp", "arc_challenge", "winogender", "gpqa", "musr")
    base_score = {"base": 40.0, "grpo": 45.0, "gift": 45.0 + 5.0 * sign}
    label = {"base": "Instruct", "grpo": "GRPO", "gift": "GIFT"}
    for method in ("gift", "grpo", "base"):
        seed_list = seeds if method != "base" else [None]
        for seed in seed_list:
            mid = f"tiny-rlhf-{method}" + ("" if seed is None else f"-s{seed}")
            mlabel = f"tiny-{label[method]}"
            model = {"model_id": mid, "model_label": mlabel,
                     "paper_row": f"7B-{label[method]}" if paper_rows else None, "tables": ["table2", "table3"],
                     "evals": {"lm_eval": str(root / "evals" / mid / "lm_eval.json"),
                               "alpaca_eval": str(root / "evals" / mid / "alpaca_eval.json")}}
            if method == "base":
                grid.append({"run_id": None, "figure": [], "backbone": "tiny", "dataset": None, "method": "base",
                             "variant": {}, "seed": None, **model})
            else:
                rows = curve_metrics(steps, 10, lambda s: 0.0, lambda s: 0.0,
                                     reward=lambda s, m=method: saturating(s, 0.1, 0.5 + 0.2 * sign * (m == "gift"), 0.1),
                                     seed=seed)
                add_run(mid, ["fig6"], "tiny", "rlhf", method, {}, seed, rows, model=model)
            if mid in skip:
                continue
            off = 0.0 if seed is None else 0.3 * seed
            score = base_score[method] + off
            res.eval_paths.append(write_eval_json(root / "evals" / mid / "lm_eval.json", mid, "lm_eval",
                                                  {k: score + i for i, k in enumerate(t2)}))
            res.eval_paths.append(write_eval_json(
                root / "evals" / mid / "alpaca_eval.json", mid, "alpaca_eval",
                {"lc_win_rate": score, "win_rate": score + 1, "avg_length": 1500.0 + 10 * score}))
            # Arena-Hard is left out on purpose: its columns must read 'not run'.
    write_json(res.grid_path, {"config": "synthetic", "results": str(root), "runs": grid})
    return res
