"""Table 1: the methods the paper compares and their properties, from the method registry (`gift.methods`)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import Any

from gift.report.table_render import md_escape, tex_escape

TABLE1_COLUMNS = (
    ("on_policy", "On-policy"),
    ("rl", "RL"),
    ("group_normalisation", "Group normalisation"),
    ("data_type", "Data type"),
    ("loss", "Loss"),
)
PAPER_TABLE1_ORDER = ("dpo", "una", "ppo", "grpo", "gift")
_PROPERTY_KEYS = ("display_name",) + tuple(k for k, _ in TABLE1_COLUMNS)


def _properties_of(name: str, spec: Any) -> dict:
    props = spec.get("properties") if isinstance(spec, Mapping) else getattr(spec, "properties", None)
    if props is None:
        raise ValueError(f"method registry: {name!r} has no 'properties' (Table 1 needs {', '.join(_PROPERTY_KEYS)})")
    if dataclasses.is_dataclass(props) and not isinstance(props, type):
        props = dataclasses.asdict(props)
    elif not isinstance(props, Mapping):
        props = {k: getattr(props, k) for k in _PROPERTY_KEYS if hasattr(props, k)}
    props = dict(props)
    if "display_name" not in props and getattr(spec, "display_name", None):
        props["display_name"] = spec.display_name
    missing = [k for k in _PROPERTY_KEYS if k not in props]
    if missing:
        raise ValueError(f"method registry: {name!r} properties lack {', '.join(missing)}")
    for k in ("on_policy", "rl", "group_normalisation"):
        if not isinstance(props[k], bool):
            raise ValueError(f"method registry: {name!r} property {k!r} is {props[k]!r}, not a bool")
    return dict(props)


def table1_rows(registry: Mapping[str, Any] | None = None, methods: Sequence[str] | None = None) -> list[dict]:
    """One row per registered method with its Table 1 properties: the paper's order (DPO, UNA, PPO, GRPO,
    GIFT) first, then the other registered methods; or the order of `methods`.

    `registry` defaults to `gift.methods.METHODS`; an unknown name in `methods` is a ValueError listing the valid ones.
    """
    if registry is None:
        from gift.methods import METHODS as registry
    if methods:
        names = list(methods)
    else:
        names = [m for m in PAPER_TABLE1_ORDER if m in registry] + [m for m in registry if m not in PAPER_TABLE1_ORDER]
    unknown = [m for m in names if m not in registry]
    if unknown:
        raise ValueError(f"Table 1: unknown methods {unknown}; registered: {', '.join(registry)}")
    rows = []
    for name in names:
        props = _properties_of(name, registry[name])
        rows.append({"method": name, **{k: props[k] for k in _PROPERTY_KEYS}})
    return rows


def _mark(flag: bool, latex: bool = False) -> str:
    if latex:
        return r"\checkmark" if flag else r"\texttimes"
    return "✓" if flag else "✗"


def table1_csv(rows: list[dict]) -> str:
    """Table 1 as CSV: booleans as yes/no."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "display_name"] + [k for k, _ in TABLE1_COLUMNS])
    for r in rows:
        w.writerow([r["method"], r["display_name"]] + [
            ("yes" if r[k] else "no") if isinstance(r[k], bool) else r[k] for k, _ in TABLE1_COLUMNS])
    return buf.getvalue()


TABLE1_CAPTION = ("Table 1: qualitative comparison of the methods, generated from the method registry "
                  "(gift.methods.METHODS): whether each is on-policy, is reinforcement learning, normalises "
                  "within a group, the data it learns from and its loss.")


def table1_markdown(rows: list[dict]) -> str:
    """Table 1 as Markdown with ✓/✗ marks and its caption."""
    lines = [f"**{TABLE1_CAPTION}**", "", "| Method | " + " | ".join(lab for _, lab in TABLE1_COLUMNS) + " |",
             "| --- |" + " --- |" * len(TABLE1_COLUMNS)]
    for r in rows:
        cells = [_mark(r[k]) if isinstance(r[k], bool) else md_escape(str(r[k])) for k, _ in TABLE1_COLUMNS]
        lines.append(f"| {md_escape(r['display_name'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table1_latex(rows: list[dict]) -> str:
    """Table 1 as a LaTeX table (booktabs, amssymb)."""
    lines = ["% needs \\usepackage{booktabs,amssymb}", r"\begin{table}[t]", r"\centering",
             r"\begin{tabular}{l" + "c" * 3 + "ll}", r"\toprule",
             "Method & " + " & ".join(tex_escape(lab) for _, lab in TABLE1_COLUMNS) + r" \\", r"\midrule"]
    for r in rows:
        cells = [_mark(r[k], latex=True) if isinstance(r[k], bool) else tex_escape(str(r[k])) for k, _ in TABLE1_COLUMNS]
        lines.append(tex_escape(r["display_name"]) + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + tex_escape(TABLE1_CAPTION) + "}",
              r"\label{tab:methods}", r"\end{table}"]
    return "\n".join(lines) + "\n"
