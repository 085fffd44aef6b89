"""The package's shape: an import graph without cycles (between modules and between packages), no private name
imported across modules, a small top level, data folders without code, and the top-level step-script folders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIFT = ROOT / "gift"


def _modules() -> dict[str, Path]:
    out = {}
    for path in GIFT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module a dotted name lives in (`gift.grid.runs.Grid` -> `gift.grid.runs`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of gift, at any depth of the file."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "gift":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:  # `from gift.grid import runs`: the submodule itself
                    out.append((full, None, node.lineno))
                else:
                    out.append((_owner(node.module), alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(_owner(a.name), None, node.lineno) for a in node.names if a.name.split(".")[0] == "gift"]
    return out


def _edges(key=lambda m: m) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        for target, _, _ in _imports(module):
            a, b = key(module), key(target)
            if target and a != b:
                edges.setdefault(a, set()).add(b)
    return edges


def _package(module: str) -> str:
    """The folder a module belongs to, as a node of the folder graph: gift.grid.runs -> gift.grid; an evaluator's
    subpackage is a folder of its own (gift.evals.rlvr); a top-level module is its own node."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "evals" and (GIFT / "evals" / parts[2]).is_dir():
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path, or None (depth-first search with colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        colour[v] = 1
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if colour.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in colour and (found := visit(w)):
                return found
        stack.pop()
        colour[v] = 2
        return None

    for v in sorted(edges):
        if v not in colour and (found := visit(v)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_no_import_cycle_between_modules():
    assert _cycle(_edges()) is None


def test_no_import_cycle_between_packages():
    # with folders as nodes, a folder whose modules sit both below and above another folder shows as a cycle
    assert _cycle(_edges(_package)) is None


def test_no_private_name_is_imported_across_modules():
    crossing = [f"{module} imports {name} from {target}"
                for module in MODULES for target, name, _ in _imports(module)
                if name and name.startswith("_") and not name.startswith("__") and target != module]
    assert crossing == []


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_no_re_export_shim_outside_a_package_init():
    # a module outside a package's __init__ names only what it defines: no import kept under a noqa for F401 for
    # others to read, no __all__ listing another module's names
    shims = []
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and "noqa: F401" in text.splitlines()[node.lineno - 1]:
                shims.append(f"{module}:{node.lineno}")
        exported = next((node.value for node in tree.body if isinstance(node, ast.Assign)
                         and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)), None)
        if exported is not None:
            foreign = sorted(set(ast.literal_eval(exported)) - _defined(tree))
            shims += [f"{module}.__all__: {name}" for name in foreign]
    assert shims == []


def test_top_level_of_the_package_is_small():
    top = sorted(p.name for p in GIFT.glob("*.py"))
    assert len(top) <= 20, top


def test_data_folders_hold_no_code():
    code = [str(p.relative_to(ROOT)) for p in (GIFT / "assets").rglob("*.py")]
    assert code == []


def test_imports_of_the_layout_tests_see_lazy_imports_too():
    # the graph above must include imports inside functions: the report's figure dispatch imports the sweep
    # and first-update figures lazily, and those count
    targets = {t for t, _, _ in _imports("gift.report.figures")}
    assert "gift.report.sweep" in targets and "gift.report.first_update" in targets


@pytest.mark.parametrize("folder", ["evals", "figures", "tables"])
def test_step_script_folders_at_the_top(folder):
    scripts = sorted((ROOT / folder).glob("*.py"))
    assert scripts, folder
    for script in scripts:  # thin: the logic lives in the library
        assert len(script.read_text(encoding="utf-8").splitlines()) <= 40, script


def test_one_rule_evaluates_a_model_whatever_its_evaluation():
    # one `eval` rule (the eval's name a wildcard) and the grouped `eval_job`; no rule per evaluation kind
    rules = set()
    for smk in [ROOT / "Snakefile", *sorted((ROOT / "workflows").glob("*.smk"))]:
        for line in smk.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith("rule ") and stripped.endswith(":"):
                rules.add(stripped[len("rule "):-1])
    assert {r for r in rules if r.startswith("eval")} == {"eval", "eval_job"}, sorted(rules)


def test_a_reader_follows_a_run_config_to_the_loss_by_imports():
    # gift train -> the trainer registry -> GIFT's trainer -> the loss, each an import (no name in a string)
    path = ["gift.run.train", "gift.trainers.registry", "gift.trainers.gift_trainer", "gift.losses"]
    for here, there in zip(path, path[1:], strict=False):
        assert there in {t for t, _, _ in _imports(here)}, f"{here} does not import {there}"
