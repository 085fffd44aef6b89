"""MBPP's test_setup_code runs between the generated code and its asserts (tasks 367 and 927 need it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from gift.assets import asset_path
from gift.evals import lm_eval_runner as runner
from gift.evals import lm_eval_tasks

DATA = Path(__file__).parent / "data" / "mbpp_setup_code_tasks.json"
SUITE_MBPP = asset_path("lm_eval", "mbpp")


def _rows() -> list[dict]:
    return json.loads(DATA.read_text(encoding="utf-8"))["rows"]


def _template(path: Path) -> str:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=lm_eval_tasks._function_loader())["doc_to_target"]  # noqa: S506


def _render(template: str, doc: dict) -> str:
    from lm_eval.utils import apply_template

    return apply_template(template, doc)


def test_suite_target_is_upstreams_with_the_setup_code_before_the_asserts():
    upstream = _template(runner.upstream_tasks_dir() / "mbpp" / "mbpp.yaml")
    expected = upstream.replace("{% else %}", "{% else %}{{test_setup_code}}\n", 1)
    assert expected != upstream, "upstream's doc_to_target changed shape"
    for name in ("mbpp_sandboxed.yaml", "mbpp_twin.yaml"):
        assert _template(SUITE_MBPP / name) == expected, name


@pytest.mark.parametrize("row", _rows(), ids=lambda r: f"task{r['task_id']}")
def test_reference_solution_passes_with_setup_code_and_fails_without(row):
    assert row["test_setup_code"].strip()
    suite_target = _render(_template(SUITE_MBPP / "mbpp_sandboxed.yaml"), row)
    assert row["test_setup_code"] in suite_target and all(t in suite_target for t in row["test_list"])
    runner.SANDBOX_STATUS.clear()
    assert runner.sandboxed_pass_at_1([suite_target], [row["code"]]) == 1.0
    # Upstream's target (asserts only) is what failed before: the trees the asserts use are never built.
    upstream_target = _render(_template(runner.upstream_tasks_dir() / "mbpp" / "mbpp.yaml"), row)
    assert row["test_setup_code"] not in upstream_target
    assert runner.sandboxed_pass_at_1([upstream_target], [row["code"]]) == 0.0
    assert runner.SANDBOX_STATUS == {"passed": 1, "failed": 1}
    # The few-shot rendering keeps upstream's code target.
    assert _render(_template(SUITE_MBPP / "mbpp_sandboxed.yaml"), {**row, "is_fewshot": True}) == \
        row["code"] + "\n[DONE]"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GIFT_MBPP_JSONL"), reason="set GIFT_MBPP_JSONL to MBPP's mbpp.jsonl (974 rows)")
def test_all_974_reference_solutions_pass():
    rows = [json.loads(line) for line in Path(os.environ["GIFT_MBPP_JSONL"]).read_text().splitlines() if line.strip()]
    assert len(rows) == 974
    template = _template(SUITE_MBPP / "mbpp_sandboxed.yaml")
    failed = [r["task_id"] for r in rows if runner.sandboxed_pass_at_1([_render(template, r)], [r["code"]]) != 1.0]
    assert failed == []
