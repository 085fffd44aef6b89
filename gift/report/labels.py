"""How runs are named in figures and claims: method display names, settings, rollouts N, aggregation."""

from __future__ import annotations

from gift.methods import display_name
from gift.report.inputs import Run
from gift.report.observations import implicit_reference

METHOD_COLORS = {"gift": "#d62728", "grpo": "#1f77b4", "dapo": "#2ca02c", "gspo": "#9467bd", "gft": "#ff7f0e"}
PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]

# The method-config fields a variant sets (GIFTConfig's names; the grid copies them into each run's variant).
ROLLOUT_KEY = "num_generations"
AGGREGATION_KEY = "implicit_aggregation"
LENGTH_POWER_KEY = "implicit_length_power"


def method_name(method: str) -> str:
    """GIFT, GRPO, ...: the paper's spelling of a registry name (gift.methods holds it)."""
    return display_name(method)


def aggregation_label(run: Run) -> str:
    """The paper's names for the implicit-reward aggregation: kl_sum, kl_average, or sum / len^p."""
    agg = run.variant.get(AGGREGATION_KEY)
    p = run.variant.get(LENGTH_POWER_KEY)
    if p is not None and agg in (None, "power"):
        return {0: "kl_sum", 1: "kl_average"}.get(p, f"sum / len^{p}")
    return {"sum": "kl_sum", "mean": "kl_average", None: "kl_sum (default)"}.get(agg, str(agg))


def rollouts(run: Run) -> int | None:
    """The group size N of a run (its variant, else its grid entry's `num_generations`)."""
    v = run.variant.get(ROLLOUT_KEY)
    if v is None:
        v = run.entry.get(ROLLOUT_KEY)
    return None if v is None else int(v)


def setting_label(run: Run) -> str:
    """'backbone · dataset' of a run (with its eval set where that differs): a figure row, a claim's setting."""
    data = run.dataset
    if run.eval_dataset and run.eval_dataset != run.dataset:
        data = f"{data} → {run.eval_dataset}"
    return " · ".join(x for x in (run.backbone_label, data) if x) or "runs"


def implicit_reference_label(run: Run) -> str:
    """GIFT runs by what rhat is measured against (the sampling policy or pi_ref); other methods by name."""
    if run.method != "gift":
        return method_name(run.method)
    return "GIFT, rhat vs sampling policy" if implicit_reference(run) == "rollout" else "GIFT, rhat vs π_ref"
