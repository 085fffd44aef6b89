"""One colour and line style per method in every figure (gift.report.style); colours of other series never a
method's; the sweep figure labels every swept value; titles that hold for every panel."""

from __future__ import annotations

import matplotlib.colors as mcolors
import pytest

from gift.methods import METHODS
from gift.report import style as S
from gift.report.figures import make_figure
from gift.report.inputs import figure_id, load_grid, load_runs
from gift.report.labels import method_name
from tests.report_fixtures import synthetic_results
from tests.test_sweep import _runs, synthetic_sweep


def _trained_methods() -> set[str]:
    """The methods a workflow config may train (the schema's names)."""
    import yaml

    from gift.grid import SCHEMA_PATH

    return set(yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["methods"]["propertyNames"]["enum"])


def test_every_method_has_its_own_colour_and_line_style_and_no_other_series_takes_one():
    trained = _trained_methods()
    assert trained <= set(METHODS)
    assert set(S.METHOD_COLORS) == trained == set(S.METHOD_LINESTYLES)
    assert len(set(S.METHOD_COLORS.values())) == len(trained)
    assert len({str(v) for v in S.METHOD_LINESTYLES.values()}) == len(trained)
    assert not set(S.OTHER_COLORS) & set(S.METHOD_COLORS.values())


def _hex(color) -> str:
    return mcolors.to_hex(color)


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    root = tmp_path_factory.mktemp("style")
    res = synthetic_results(root / "results", seeds=(0, 1), larger_backbone=False)
    grid = load_grid(res.grid_path)
    runs = load_runs([str(p) for p in res.run_dirs.values()], grid)
    out = {}
    for fid in ("fig2a", "fig2b", "fig3", "fig4", "fig5", "fig6", "fig_correlation"):
        fig = figure_id(fid)
        out[fid] = make_figure(fig, [r for r in runs if fig in r.figures], "synthetic").fig
    grid_path, dirs = synthetic_sweep(root / "sweep", {"gift-rollout": 1e-4, "gift-reference": 1e-3, "grpo": 3e-5})
    out["fig_sweep"] = make_figure("sweep", _runs(grid_path, dirs), "synthetic").fig
    return out


def _lines(fig):
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            if not label.startswith("_"):
                yield ax, line, label
        for container in ax.containers:  # errorbar plots
            if container.get_label() and not container.get_label().startswith("_"):
                yield ax, container.lines[0], container.get_label()


def test_each_methods_series_has_the_methods_colour_in_every_figure(figures):
    names = {method_name(m): m for m in METHODS}
    checked = 0
    for fid, fig in figures.items():
        for _, line, label in _lines(fig):
            method = next((m for name, m in names.items() if label.split(" (")[0].split(",")[0] == name), None)
            if method is not None:
                assert _hex(line.get_color()) == S.METHOD_COLORS[method], (fid, label)
                checked += 1
            else:  # a setting or a choice: never a method's colour
                assert _hex(line.get_color()) not in S.METHOD_COLORS.values(), (fid, label)
    assert checked >= 6


def test_the_same_methods_line_style_in_curve_figures(figures):
    styles = {}
    for fid in ("fig3", "fig4", "fig5", "fig6"):
        for _, line, label in _lines(figures[fid]):
            styles.setdefault(label.split(" (")[0], set()).add(str(line.get_linestyle()))
    assert styles and all(len(v) == 1 for v in styles.values()), styles
    assert styles["GIFT"] != styles["GRPO"]


def test_sweep_ticks_label_every_swept_value(figures):
    (ax,) = figures["fig_sweep"].axes
    labels = [t.get_text() for t in ax.get_xticklabels()]
    swept = sorted({float(x) for x in labels})
    assert len(swept) == len(labels) >= 5
    assert {1e-5, 3e-5, 1e-4, 3e-4, 1e-3} <= set(swept), labels
    # GIFT's two references: GIFT's colour, told apart by their line style
    gift = [line for _, line, label in _lines(figures["fig_sweep"]) if label.startswith("GIFT")]
    assert len(gift) == 2 and {_hex(line.get_color()) for line in gift} == {S.METHOD_COLORS["gift"]}
    assert gift[0].get_linestyle() != gift[1].get_linestyle()


def test_reference_figure_title_names_no_setting_its_panels_may_not_hold():
    from gift.report.figures import FIGURES

    title = FIGURES["reference"].title
    assert "GSM8K" not in title and "MATH" not in title and "π_ref" in title
