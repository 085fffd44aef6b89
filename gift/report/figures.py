"""Figures 2-6 and the implicit-explicit reward figure from run metrics: seed mean with a ±1 sd band."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from gift.files import atomic_path, write_json, write_text  # noqa: E402
from gift.report import provenance as prov  # noqa: E402
from gift.report.inputs import Run  # noqa: E402
from gift.report.labels import (  # noqa: E402
    aggregation_label,
    implicit_reference_label,
    method_name,
    rollouts,
    setting_label,
)
from gift.report.stats import final_value, mean_sd, seed_band  # noqa: E402
from gift.report.style import (  # noqa: E402
    NOT_RUN,
    FigureResult,
    footnote,
    method_style,
    not_run_text,
    other_style,
    style_axes,
)

LINESTYLES = ("-", "--", "-.", ":")
# The paper's method first, then its baselines; kl_sum (the paper's choice) before kl_average.
SERIES_ORDER = ["GIFT", "GRPO", "DAPO", "GSPO", "GFT", "kl_sum", "kl_sum (default)", "kl_average",
                "GIFT, rhat vs sampling policy", "GIFT, rhat vs π_ref"]


@dataclass(frozen=True)
class Metric:
    """A metrics.jsonl key as a figure shows it."""

    key: str
    ylabel: str
    name: str


TRAIN = Metric("train_pass@1", "train pass@1 (%)", "train pass@1")
EVAL = Metric("eval_pass@1", "eval pass@1 (%)", "eval pass@1")
LENGTH = Metric("completion_length", "response length (tokens)", "response length")
REWARD = Metric("reward_mean", "mean reward (RM score / √tokens)", "reward")
CORR = Metric("implicit_explicit_corr", "within-group Pearson r (implicit, explicit reward)", "reward correlation")
BETA = Metric("implied_beta", "implied β(x) = σ_φ(x) / σ̂_θ(x)", "implied β(x)")
STEP_LABEL = "training step (optimizer steps)"
# Figures 3-5 count rollout batches, as the paper's x axes (verl's trainer steps) do.
BATCH_LABEL = "rollout batch (trainer step)"


@dataclass
class CurveFigureSpec:
    """A figure of curves against training step: one row of panels per setting, one panel per metric."""

    fid: str
    title: str
    metrics: tuple[Metric, ...]
    series: Callable[[Run], str] = lambda r: method_name(r.method)
    rows: Callable[[Run], str] | None = setting_label
    keep: Callable[[Run], bool] = lambda r: True
    first_letter: str = "a"
    caption: str = ""
    overlay: bool = False
    overlay_title: str = ""
    overlay_ylabel: str = ""
    # series are methods (or a method's variants): each in its method's colour and line style (gift.report.style);
    # otherwise (settings, choices) in the colours no method uses
    by_method: bool = True
    # the x axis: a metrics.jsonl key (`step`: optimizer updates; `rollout_batch`: rollout batches) and its label
    x: str = "step"
    xlabel: str = STEP_LABEL


FIGURES: dict[str, CurveFigureSpec] = {
    "fig2b": CurveFigureSpec(
        "fig2b", "Figure 2b · implicit reward aggregation: kl_sum vs kl_average (GIFT)", (EVAL, TRAIN),
        series=aggregation_label, first_letter="b", by_method=False, overlay=True,
        overlay_title="eval (solid) and train (dashed) pass@1", overlay_ylabel="pass@1 (%)",
        caption="GIFT with the implicit reward summed over response tokens (kl_sum, the paper's choice) "
                "against its mean (kl_average)."),
    "fig3": CurveFigureSpec(
        "fig3", "Figure 3 · RLVR: GIFT vs GRPO", (TRAIN, EVAL), x="rollout_batch", xlabel=BATCH_LABEL,
        caption="Train and eval pass@1 against rollout batch (the paper's training step) for GIFT and GRPO on GSM8K "
                "and MATH (paper: deepseek-llm-7b-chat); train pass@1 is the mean over the batch's updates."),
    "reference": CurveFigureSpec(
        "reference", "Ablation · GIFT's implicit reward against the sampling policy or π_ref", (TRAIN, EVAL),
        series=implicit_reference_label,
        caption="GIFT with rhat = log π_θ/π_old against the policy that sampled the rollout batch (the author's "
                "code: 0 at the first of the updates per rollout batch) and against the fixed reference π_ref "
                "(the paper's formula), beside GRPO. Not a figure of the paper."),
    "fig4": CurveFigureSpec(
        "fig4", "Figure 4 · RLVR: GIFT vs GRPO", (TRAIN, EVAL), x="rollout_batch", xlabel=BATCH_LABEL,
        caption="Train and eval pass@1 against rollout batch (the paper's training step) for GIFT and GRPO on GSM8K "
                "and MATH (paper: Qwen2.5-32B-Instruct); train pass@1 is the mean over the batch's updates."),
    "fig5": CurveFigureSpec(
        "fig5", "Figure 5 · hard RLVR (DAPO-Math train, AIME 2024 eval): GIFT vs GRPO", (TRAIN, EVAL, LENGTH),
        x="rollout_batch", xlabel=BATCH_LABEL,
        caption="Train pass@1, eval pass@1 (AIME 2024) and response length against rollout batch (the paper's "
                "training step) (paper: Qwen3-32B and Qwen2.5-32B base models); panels c and f: response length."),
    "fig6": CurveFigureSpec(
        "fig6", "Figure 6 · RLHF: GIFT vs GRPO reward curves", (REWARD,),
        caption="Mean explicit reward (reward-model score divided by √response tokens) against training step "
                "(paper: Qwen2.5-7B/32B-Instruct on Infinity-Instruct)."),
    "correlation": CurveFigureSpec(
        "correlation", "GIFT's implicit reward against the explicit reward over training", (CORR, BETA),
        series=setting_label, rows=None, keep=lambda r: r.method == "gift", by_method=False,
        caption="Within-group Pearson correlation between GIFT's implicit reward (log π/π_ref) and the explicit "
                "reward, and the implied β(x) = σ_φ(x)/σ̂_θ(x) (explicit over implicit reward std, paper v5), "
                "mean over the groups of a step. A figure the paper does not have."),
}


def _letter(i: int, first: str) -> str:
    return chr(ord(first) + i)


def _footnote(runs: Sequence[Run]) -> str:
    missing = [r for r in runs if not r.has_metrics]
    base = "Lines: mean over seeds; shaded: ±1 sample sd over seeds (where ≥2 seeds logged the step)."
    if not missing:
        return base
    names = ", ".join(r.describe() or r.run_id for r in missing[:6])
    more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
    return base + f" Not run: {names}{more}."


def _styles_for(labels: list[str], spec: CurveFigureSpec, runs_by_label: dict[str, list[Run]]) -> dict[str, tuple]:
    """(colour, line style, marker) of each series: its method's (a method's later variants keep the colour with a
    style of their own), or for series that are not methods the next colour no method uses."""
    styles: dict[str, tuple] = {}
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if spec.by_method:
            method = runs_by_label[label][0].method
            styles[label] = method_style(method, seen.get(method, 0))
            seen[method] = seen.get(method, 0) + 1
        else:
            styles[label] = other_style(i)
    return styles


def curve_figure(spec: CurveFigureSpec, runs: Sequence[Run], config_name: str) -> FigureResult:
    """Draw one curve figure. `runs` includes expected runs without metrics: they render as 'not run'."""
    runs = [r for r in runs if spec.keep(r)]
    row_keys = _row_keys(spec, runs)
    # overlay: all metrics in one panel per setting (Figure 2b); otherwise one panel per metric.
    groups = [spec.metrics] if spec.overlay else [(m,) for m in spec.metrics]
    fig, axes, width = _panel_grid(len(row_keys), len(groups))
    record = prov.header(config_name, "figure", spec.fid, [str(r.path) for r in runs if r.path])
    record["panels"] = []
    labels = _series_labels(spec, runs)
    colors = _styles_for(labels, spec, {lab: [r for r in runs if spec.series(r) == lab] for lab in labels})
    panel = 0
    for ri, row_key in enumerate(row_keys):
        row_runs = [r for r in runs if _row_key(spec, r) == row_key]
        for gi, group in enumerate(groups):
            ax = axes[0][ri] if len(groups) == 1 else axes[ri][gi]
            letter = _letter(panel, spec.first_letter)
            panel += 1
            record["panels"].append(_draw_panel(ax, spec, letter, row_key, group, row_runs, labels, colors))
    _finish_figure(fig, spec, runs, config_name, width)
    record["not_run"] = [r.run_id for r in runs if not r.has_metrics]
    return FigureResult(fig=fig, record=record, caption=_caption(spec.caption, runs, _footnote(runs)))


def _row_key(spec: CurveFigureSpec, run: Run) -> str:
    return spec.rows(run) if spec.rows else ""


def _row_keys(spec: CurveFigureSpec, runs: Sequence[Run]) -> list[str]:
    """The settings, one row of panels each, in the order the runs first show them."""
    keys = list(dict.fromkeys(_row_key(spec, r) for r in runs))
    return keys or [""]


def _panel_grid(n_rows: int, n_groups: int) -> tuple:
    """(figure, axes[row][column], width in inches): with one panel per setting, settings side by side;
    with several, a row per setting, as the paper lays them out."""
    nrows, ncols = (1, n_rows) if n_groups == 1 else (n_rows, n_groups)
    width = max(4.6 * ncols, 7.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.5 * nrows + 0.9), squeeze=False)
    return fig, axes, width


def _series_labels(spec: CurveFigureSpec, runs: Sequence[Run]) -> list[str]:
    """The series of the figure, the paper's method (or choice) first."""
    labels = list(dict.fromkeys(spec.series(r) for r in runs))
    return sorted(labels, key=lambda lab: (SERIES_ORDER.index(lab) if lab in SERIES_ORDER else len(SERIES_ORDER),
                                           lab))


def _draw_panel(ax, spec: CurveFigureSpec, letter: str, row_key: str, group: tuple[Metric, ...],
                row_runs: list[Run], labels: list[str], colors: dict[str, str]) -> dict:
    """One panel: titles and axes, a seed-mean curve with a ±1 sd band per series; returns its record."""
    name = spec.overlay_title if spec.overlay else group[0].name
    ax.set_title(f"{row_key}\n{name}" if row_key else name, fontsize=10)
    ax.set_title(f"({letter})", loc="left", fontsize=12, fontweight="bold")
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.overlay_ylabel if spec.overlay else group[0].ylabel, fontsize=9)
    style_axes(ax)
    panel_rec = {"panel": letter, "row": row_key, "metric": ",".join(m.key for m in group), "series": []}
    drawn, absent = 0, []
    for li, lab in enumerate(labels):
        series_runs = [r for r in row_runs if spec.series(r) == lab]
        if not series_runs:
            continue
        if _draw_series(ax, spec, lab, li, group, series_runs, colors[lab], panel_rec["series"]):
            drawn += 1
        else:
            # a run that trained but never logged this metric is not the same as a run not run
            ran = any(r.has_metrics for r in series_runs)
            absent.append(f"{lab}: {'no values logged' if ran else NOT_RUN}")
    panel_rec["absent"] = absent
    _finish_panel(ax, group, drawn, absent)
    return panel_rec


def _draw_series(ax, spec: CurveFigureSpec, lab: str, li: int, group: tuple[Metric, ...], series_runs: list[Run],
                 look: tuple, records: list) -> int:
    """The curves of one series (one per metric of the panel); appends their records, returns how many were drawn."""
    drawn = 0
    for mi, metric in enumerate(group):
        curves = [(r, r.series(metric.key, x=spec.x)) for r in series_runs]
        with_data = [(r, c) for r, c in curves if c[0].size]
        records.append({
            "label": lab, "metric": metric.key,
            "runs": [{"run_id": r.run_id, "path": str(r.path) if r.path else None, "seed": r.seed,
                      "points": int(c[0].size), "done": r.done} for r, c in curves]})
        if not with_data:
            continue
        band = seed_band([c for _, c in with_data])
        # the series' own dash (or one per metric when overlaid) keeps coinciding curves and grey-scale prints
        # readable
        color, style, marker = look
        if spec.overlay:
            style = LINESTYLES[mi % len(LINESTYLES)]
        n_seeds = f"{len(with_data)} seed{'s' if len(with_data) != 1 else ''}"
        label = f"{lab}, {metric.name} ({n_seeds})" if spec.overlay else f"{lab} ({n_seeds})"
        ax.plot(band.steps, band.mean, color=color, linewidth=1.8 if mi == 0 else 1.3, linestyle=style,
                marker=marker if band.steps.size <= 12 else None, markersize=3.5, label=label)
        ok = ~np.isnan(band.sd)
        if ok.any():
            ax.fill_between(band.steps[ok], (band.mean - band.sd)[ok], (band.mean + band.sd)[ok],
                            color=color, alpha=0.2, linewidth=0)
        drawn += 1
    return drawn


def _finish_panel(ax, group: tuple[Metric, ...], drawn: int, absent: list[str]) -> None:
    """Log scale for a wide-ranging implied beta, 'not run' on an empty panel, integer steps, the legend."""
    if BETA in group and drawn:
        ys = [y for line in ax.get_lines() for y in line.get_ydata() if y > 0]
        if ys and min(ys) > 0 and max(ys) / min(ys) > 20:
            ax.set_yscale("log")
    if drawn == 0:
        not_run_text(ax)
    else:
        for text in absent:  # a legend line without a curve: the series is expected but has no data
            ax.plot([], [], " ", label=text)
        lo, hi = ax.get_xlim()
        if hi - lo < 2:  # a single logged step: keep integer ticks around it
            mid = round((lo + hi) / 2)
            ax.set_xlim(mid - 1, mid + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if drawn:
        ax.legend(fontsize=8, frameon=False, loc="best")


def _finish_figure(fig, spec: CurveFigureSpec, runs: Sequence[Run], config_name: str, width: float) -> None:
    """The title with the config's name and the footnote naming what the curves average over."""
    fig.suptitle("\n".join(textwrap.wrap(f"{spec.title}  [config: {config_name}]", int(width * 10))), fontsize=12)
    footnote(fig, _footnote(runs), int(width * 15))
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))


def _caption(text: str, runs: Sequence[Run], foot: str) -> str:
    n = sum(r.has_metrics for r in runs)
    return f"{text} Drawn from {n} of {len(runs)} runs. {foot}"


def rollouts_figure(runs: Sequence[Run], config_name: str) -> FigureResult:
    """Figure 2a: final pass@1 against the number of rollouts N (GIFT), mean ± sd over seeds per N.

    The final value of a run is the mean of the last 10% of its logged points (at least the last one).
    """
    runs = list(runs)
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    record = prov.header(config_name, "figure", "fig2a", [str(r.path) for r in runs if r.path])
    record["series"] = []
    settings: list[str] = []
    for r in runs:
        if setting_label(r) not in settings:
            settings.append(setting_label(r))
    all_n: set[int] = set()
    drawn = 0
    for si, setting in enumerate(settings):
        color = other_style(si)[0]
        for metric, style in ((EVAL, "-"), (TRAIN, "--")):
            by_n: dict[int, list[float]] = {}
            sources: dict[int, list[str]] = {}
            for r in runs:
                n = rollouts(r)
                if setting_label(r) != setting or n is None:
                    continue
                all_n.add(n)
                _, vals = r.series(metric.key)
                fv = final_value(vals)
                sources.setdefault(n, [])
                by_n.setdefault(n, [])
                if fv is not None:
                    by_n[n].append(fv)
                    sources[n].append(r.run_id)
            ns = sorted(n for n, v in by_n.items() if v)
            stats = [mean_sd(by_n[n]) for n in ns]
            record["series"].append({"setting": setting, "metric": metric.key, "points": [
                {"N": n, "mean": m, "sd": s, "n": k, "runs": sources[n]} for n, (m, s, k) in zip(ns, stats, strict=True)],
                "not_run": sorted(n for n, v in by_n.items() if not v)})
            if not ns:
                continue
            means = np.array([m for m, _, _ in stats])
            sds = np.array([s if s is not None else 0.0 for _, s, _ in stats])
            label = f"{metric.name}" + (f" — {setting}" if len(settings) > 1 or setting != "runs" else "")
            ax.errorbar(ns, means, yerr=sds, color=color, linestyle=style, marker="o", markersize=4,
                        capsize=3, linewidth=1.8 if style == "-" else 1.2, label=label)
            drawn += 1
    ax.set_xscale("log", base=2)
    if all_n:
        ticks = sorted(all_n)
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel("rollouts per prompt N (log scale)")
    ax.set_ylabel("final pass@1 (%)")
    ax.set_title("pass@1 at the end of training against N", fontsize=10)
    ax.set_title("(a)", loc="left", fontsize=12, fontweight="bold")
    style_axes(ax)
    if drawn:
        ax.legend(fontsize=8, frameon=False, loc="best")
    else:
        not_run_text(ax)
    missing = sorted((rollouts(r), str(r.seed)) for r in runs if not r.has_metrics and rollouts(r) is not None)
    fig.suptitle(f"Figure 2a · number of rollouts N (GIFT)  [config: {config_name}]", fontsize=12)
    foot = ("Points: mean over seeds of each run's final pass@1 (mean of its last 10% of logged points); "
            "error bars: ±1 sample sd over seeds; solid: eval, dashed: train.")
    if missing:
        foot += " Not run: " + ", ".join(f"N={n} seed {s}" for n, s in missing) + "."
    footnote(fig, foot, 110)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    record["not_run"] = [r.run_id for r in runs if not r.has_metrics]
    caption = _caption("GIFT's final pass@1 against the number of rollouts per prompt N.", runs, foot)
    return FigureResult(fig=fig, record=record, caption=caption)


def make_figure(fid: str, runs: Sequence[Run], config_name: str) -> FigureResult:
    """Draw the figure `fid` ('fig2a', 'fig2b', 'fig3' .. 'fig6', 'correlation', 'sweep', 'firstupdate')."""
    if fid == "fig2a":
        return rollouts_figure(runs, config_name)
    if fid == "sweep":
        from gift.report.sweep import sweep_figure

        return sweep_figure(runs, config_name)
    if fid == "firstupdate":
        from gift.report.first_update import first_update_figure

        return first_update_figure(runs, config_name)
    if fid not in FIGURES:
        raise ValueError(f"unknown figure {fid!r}; known: fig2a, {', '.join(FIGURES)}")
    return curve_figure(FIGURES[fid], runs, config_name)


def save_figure(result: FigureResult, prefix: str | Path) -> list[Path]:
    """Write PREFIX.png, PREFIX.pdf, PREFIX.rst (caption) and PREFIX.provenance.json, each atomically."""
    prefix = Path(prefix)
    out = []
    for ext, kw in (("png", {"dpi": 150}), ("pdf", {})):
        path = prefix.with_name(prefix.name + f".{ext}")
        with atomic_path(path) as tmp:
            result.fig.savefig(tmp, format=ext, **kw)
        out.append(path)
    cap = prefix.with_name(prefix.name + ".rst")
    write_text(cap, result.caption.replace("{", "(").replace("}", ")") + "\n")
    write_json(prov.provenance_path(prefix), result.record)
    plt.close(result.fig)
    return out + [cap, prov.provenance_path(prefix)]
