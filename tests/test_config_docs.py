"""config/README.md documents every key of the workflow schema with its type, default and meaning."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gift.grid import SCHEMA_PATH

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = {**SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    for sub in node.get("allOf", []):
        sub = _resolve(sub)
        node = {**sub, **{k: v for k, v in node.items() if k != "allOf"},
                "properties": {**sub.get("properties", {}), **node.get("properties", {})}}
    return node


def _keys(node: dict, path: str, out: dict[str, dict]) -> dict[str, dict]:
    """Every key path of the schema: `a.b`, `<name>` for a map's keys, `[]` for a list's items."""
    node = _resolve(node)
    if path:
        out[path] = node
    for key, sub in (node.get("properties") or {}).items():
        _keys(sub, f"{path}.{key}" if path else key, out)
    if isinstance(node.get("additionalProperties"), dict):
        _keys(node["additionalProperties"], f"{path}.<name>", out)
    items = node.get("items")
    if isinstance(items, dict) and _resolve(items).get("type") == "object":
        _keys(items, f"{path}[]", out)
    return out


def _documented() -> dict[str, list[str]]:
    rows = {}
    for line in (ROOT / "config" / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([^`]+)` \| (.*) \| (.*) \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = [m.group(2), m.group(3), m.group(4)]
    return rows


# Keys documented once: the README says reward models take the backbones' keys and an experiment's training
# section the top-level training keys; the schema holds each as one definition.
SHARED = ("reward_models.<name>.", "experiments.<name>.training.")


def test_every_schema_key_is_documented_and_every_documented_key_exists():
    keys = _keys(SCHEMA, "", {})
    wanted = {k for k in keys if not k.startswith(SHARED)}
    documented = _documented()
    assert sorted(wanted - set(documented)) == [], "keys without a row in config/README.md"
    assert sorted(set(documented) - set(keys)) == [], "rows of config/README.md that are not keys of the schema"


def test_the_shared_keys_are_one_definition_in_the_schema():
    props = SCHEMA["properties"]
    assert props["reward_models"]["additionalProperties"] == props["backbones"]["additionalProperties"]
    exp_training = props["experiments"]["additionalProperties"]["properties"]["training"]
    assert exp_training["allOf"] == props["training"]["allOf"] == [{"$ref": "#/$defs/training"}]


def test_each_row_gives_the_schemas_type_and_choices_and_a_meaning():
    keys = _keys(SCHEMA, "", {})
    required = set()
    for path, node in list(keys.items()) + [("", SCHEMA)]:
        for r in node.get("required", []):
            required.add(f"{path}.{r}" if path else r)
    for path, (typ, default, meaning) in _documented().items():
        node = keys[path]
        assert meaning.strip(), path
        for choice in node.get("enum", []):
            assert str(choice) in typ, (path, choice)
        t = node.get("type")
        for name in ([t] if isinstance(t, str) else t or []):
            word = {"object": "mapping", "array": "list"}.get(name, name)
            assert word in typ, (path, name, typ)
        assert (default == "required") == (path in required), (path, default)


# ---- the README: order, layout from the tree, no measured times in prose --------------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_puts_the_commands_the_configs_and_the_answer_before_the_method():
    heads = [line[3:] for line in README.splitlines() if line.startswith("## ")]
    order = ["The two commands", "Which config is mine", "Where is the answer", "On one GPU or one node",
             "On a GPU cluster", "The method in one screen"]
    assert [h for h in heads if h in order] == order, heads


def test_readme_names_every_config_and_top_level_directory():
    import subprocess

    for config in sorted((ROOT / "config").glob("*.yaml")):
        assert f"config/{config.name}" in README or config.name in README.split("## Layout")[1], config.name
    layout = README.split("## Layout")[1].split("```")[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    dirs = {p.split("/")[0] for p in tracked.splitlines() if "/" in p and not p.startswith(".")}
    for d in sorted(dirs):
        assert re.search(rf"(^|[\s,]){re.escape(d)}/", layout, re.M), d
    for env in sorted((ROOT / "workflows" / "envs").glob("*.yaml")):
        assert f"workflows/envs/{env.name}" in README, env.name
    for package in sorted(d.name for d in (ROOT / "gift").iterdir() if d.is_dir() and not d.name.startswith(("_", "."))):
        assert re.search(rf"^\s+{package}/", layout, re.M), f"gift/{package}/ missing from the README's Layout"


def test_no_measured_times_in_the_readme_or_config_comments():
    times = re.compile(r"\b\d[\d,.]*\s*(s|min|minutes|seconds|CPU-seconds|CPU-s)\b(?![-/])")
    for path in [ROOT / "README.md", *sorted((ROOT / "config").glob("*.yaml")), ROOT / "Snakefile"]:
        text = path.read_text(encoding="utf-8")
        comments = text if path.suffix != ".yaml" else "\n".join(
            line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
        found = [m.group(0) for m in times.finditer(comments)]
        assert not found, (path.name, found)
    assert "docs/timings.md" in README and "gift.cli timings" in (ROOT / ".ci" / "run").read_text()
