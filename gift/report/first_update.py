"""The first-update diagnostics figure: GIFT's per-update statistics by the update's index within its rollout batch.

In the rollout-reference mode the implicit reward is measured against the policy that sampled the rollout batch,
so it is 0 at the first update of each batch (its group spread too) and the detached z-score's gradient is 1/eps
times a REINFORCE direction, clipped to max_grad_norm; the later updates measure how far the policy has moved.
The figure shows, for updates 1..U of a rollout batch: the gradient norm before clipping, the within-group spread
of the implicit reward, the within-group correlation of explicit and implicit reward, and the share of updates
clipped, one series per setting (clipping on or off, updates per rollout batch).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np

from gift.report import provenance as prov
from gift.report.inputs import Run
from gift.report.labels import setting_label
from gift.report.stats import mean_sd
from gift.report.style import FigureResult, footnote, not_run_text, other_style, plt, style_axes

# (metrics.jsonl key, panel title, y label, y scale, scale of a run's mean into the plotted unit)
PANELS = (
    ("grad_norm", "gradient norm before clipping", "‖g‖₂ before clipping (log scale)", "log", 1.0),
    ("implicit_reward_group_std", "within-group spread of the implicit reward",
     "mean within-group sd of r̂ (nats, symlog)", "symlog", 1.0),
    ("implicit_explicit_corr", "correlation of explicit and implicit reward",
     "within-group Pearson r (advantage, r̂)", "linear", 1.0),
    ("clipped", "updates clipped", "updates clipped (%)", "linear", 100.0),
)
DEFAULT_MAX_GRAD_NORM = 1.0  # transformers' TrainingArguments default


def series_label(run: Run) -> str:
    """A run's setting: its clipping threshold and optimizer updates per rollout batch."""
    norm = (run.entry.get("method_args") or {}).get("max_grad_norm", DEFAULT_MAX_GRAD_NORM)
    clip = "no clipping" if not norm else f"clip at {float(norm):g}"
    updates = (run.entry.get("batch") or {}).get("updates_per_rollout_batch")
    per = "" if updates is None else f", {updates} update{'s' if updates != 1 else ''} per rollout batch"
    return clip + per


def run_by_index(run: Run, key: str) -> dict[int, float]:
    """{update index within its rollout batch: the run's mean of `key` over its updates at that index}."""
    values: dict[int, list[float]] = {}
    for row in run.metrics:
        index, value = row.get("update_in_batch"), row.get(key)
        if not isinstance(index, int) or value is None:
            continue
        value = float(value)  # a bool (clipped) counts as 0 or 1
        if np.isfinite(value):
            values.setdefault(index, []).append(value)
    return {i: sum(v) / len(v) for i, v in values.items()}


def first_update_figure(runs: Sequence[Run], config_name: str) -> FigureResult:
    """Four panels (gradient norm, implicit-reward spread, correlation, share clipped) against the update's index
    within its rollout batch; per series the mean over seeds of each run's mean at that index, ±1 sd over seeds."""
    runs = [r for r in runs if r.method == "gift"]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.4 * len(PANELS), 4.3), squeeze=False)
    record = prov.header(config_name, "figure", "first_update", [str(r.path) for r in runs if r.path])
    record["panels"] = []
    labels = list(dict.fromkeys(series_label(r) for r in runs))
    settings = list(dict.fromkeys(setting_label(r) for r in runs))
    max_index = 1
    for pi, (key, title, ylabel, scale, unit) in enumerate(PANELS):
        ax = axes[0][pi]
        ax.set_title(title, fontsize=10)
        ax.set_title(f"({chr(ord('a') + pi)})", loc="left", fontsize=12, fontweight="bold")
        ax.set_xlabel("update within its rollout batch")
        ax.set_ylabel(ylabel, fontsize=9)
        style_axes(ax)
        panel = {"panel": chr(ord("a") + pi), "metric": key, "series": []}
        drawn = 0
        for li, label in enumerate(labels):
            per_run = [(r, run_by_index(r, key)) for r in runs if series_label(r) == label]
            indices = sorted({i for _, by in per_run for i in by})
            points = []
            for i in indices:
                mean, sd, n = mean_sd([by[i] * unit for _, by in per_run if i in by])
                points.append({"index": i, "mean": mean, "sd": sd, "n": n})
            panel["series"].append({"label": label, "points": points,
                                    "runs": [r.run_id for r, by in per_run if by]})
            if not points:
                continue
            max_index = max(max_index, indices[-1])
            xs = np.array(indices, dtype=float) + (li - (len(labels) - 1) / 2) * 0.08  # side by side
            ys = np.array([p["mean"] for p in points])
            err = np.array([p["sd"] or 0.0 for p in points])
            color, linestyle, marker = other_style(li)  # settings, not methods: the colours no method uses
            ax.errorbar(xs, ys, yerr=err, color=color, linestyle=linestyle, marker=marker, markersize=5, capsize=3,
                        linewidth=1.4, label=label)
            drawn += 1
        if drawn:
            if scale == "log" and all(p["mean"] and p["mean"] > 0 for s in panel["series"] for p in s["points"]):
                ax.set_yscale("log")
            elif scale == "symlog":
                ax.set_yscale("symlog", linthresh=1e-3)
            ax.legend(fontsize=7.5, frameon=False, loc="best")
        else:
            not_run_text(ax)
        record["panels"].append(panel)
    for ax in axes[0]:
        ax.set_xticks(range(1, max_index + 1))
    where = "; ".join(settings) if settings else "no GIFT runs"
    fig.suptitle("\n".join(textwrap.wrap(f"GIFT's updates by their index within a rollout batch ({where})  "
                                         f"[config: {config_name}]", 140)), fontsize=12)
    foot = ("Points: mean over seeds of each run's mean over its updates at that index; error bars: ±1 sample sd "
            "over seeds. Gradient norm: before clipping (transformers' grad_norm); an update counts as clipped when "
            "it exceeds max_grad_norm. With the rollout reference the implicit reward is 0 at update 1.")
    footnote(fig, foot, 170)
    fig.tight_layout(rect=(0, 0.07, 1, 0.92))
    record["not_run"] = [r.run_id for r in runs if not r.has_metrics]
    n = sum(r.has_metrics for r in runs)
    caption = ("GIFT's per-update diagnostics by the update's index within its rollout batch: gradient norm before "
               "clipping, within-group spread of the implicit reward, its within-group correlation with the explicit "
               f"reward, and the share of updates clipped; per setting (clipping, updates per rollout batch). Drawn "
               f"from {n} of {len(runs)} runs. {foot} A figure the paper does not have.")
    return FigureResult(fig=fig, record=record, caption=caption)
