"""How every figure looks: one colour and line style per method, the same axes, notes and "not run" panels.

A method's colour belongs to it alone: series that are not methods (settings, aggregation choices) take colours
from a second palette no method uses, and a method's variants (GIFT against π_ref) keep the method's colour with
a line style and marker of their own.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NOT_RUN = "not run"

METHOD_COLORS = {"gift": "#d62728", "grpo": "#1f77b4", "dapo": "#2ca02c", "gspo": "#9467bd", "gft": "#ff7f0e"}
METHOD_LINESTYLES: dict[str, object] = {"gift": "-", "grpo": "--", "dapo": "-.", "gspo": ":",
                                        "gft": (0, (5, 1.5, 1, 1.5, 1, 1.5))}
# A method's second, third ... variant in one figure: its colour, these line styles and markers.
VARIANT_LINESTYLES: tuple[object, ...] = ((0, (1, 1)), (0, (6, 2, 2, 2)), (0, (3, 3)))
VARIANT_MARKERS = ("s", "^", "D")
# Series that are not methods: none of these is a method's colour.
OTHER_COLORS = ("#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79")
OTHER_LINESTYLES: tuple[object, ...] = ("-", "--", "-.", ":")


def method_style(method: str, variant: int = 0) -> tuple[str, object, str]:
    """(colour, line style, marker) of a method's series; `variant` 1, 2 ... for its other variants in a figure."""
    color = METHOD_COLORS[method]
    if variant <= 0:
        return color, METHOD_LINESTYLES[method], "o"
    k = (variant - 1) % len(VARIANT_LINESTYLES)
    return color, VARIANT_LINESTYLES[k], VARIANT_MARKERS[k]


def other_style(index: int) -> tuple[str, object, str]:
    """(colour, line style, marker) of the index-th series that is not a method (a setting, a choice)."""
    return (OTHER_COLORS[index % len(OTHER_COLORS)], OTHER_LINESTYLES[index // len(OTHER_COLORS)
                                                                      % len(OTHER_LINESTYLES)], "o")


@dataclass
class FigureResult:
    """A rendered figure and the record of what it was drawn from."""

    fig: plt.Figure
    record: dict
    caption: str


def not_run_text(ax, text: str = NOT_RUN) -> None:
    """Mark a panel whose runs have not finished: no ticks, the text in its middle."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=12, color="0.45",
            style="italic")


def footnote(fig, text: str, width: int) -> None:
    """The figure's note in small grey type along its bottom edge, wrapped at `width` characters."""
    fig.text(0.01, 0.005, "\n".join(textwrap.wrap(text, width)), fontsize=7.5, color="0.3", ha="left", va="bottom")


def style_axes(ax) -> None:
    """The suite's axes: a light grid, no top or right spine."""
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
