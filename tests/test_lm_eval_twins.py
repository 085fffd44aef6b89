"""The lm-eval twins: synthetic data in the real schemas, twin YAMLs that lm-eval loads, MBPP pass@1 in the sandbox."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
import yaml

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_var, "1")

from gift.evals.lm_eval import runner  # noqa: E402
from gift.evals.lm_eval import tasks as lm_eval_tasks  # noqa: E402
from gift.evals.lm_eval import twins as data  # noqa: E402

N = 6


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("twins")
    runner.materialise_twins(root, seed=3, n=N)
    return root


def _rows(root: Path, rel: str) -> list[dict]:
    return [json.loads(line) for line in (root / "data" / rel).read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- data

def test_generation_is_deterministic_in_seed_and_n():
    assert data.generate(5, 7) == data.generate(5, 7)
    assert data.generate(5, 7) != data.generate(6, 7)


def test_every_benchmark_has_its_real_columns_and_splits():
    out = data.generate(0, N)
    assert set(out["arc_challenge"]) == {"train", "validation", "test"}
    assert set(out["musr"]) == {"murder_mysteries", "object_placements", "team_allocation"}
    assert {k for k in out if k.startswith("gpqa/")} == {"gpqa/gpqa_diamond", "gpqa/gpqa_extended", "gpqa/gpqa_main"}
    for key, splits in out.items():
        for rows in splits.values():
            for row in rows:
                assert set(data.REQUIRED_COLUMNS[key.split("/")[0]]) <= set(row)


def test_gpqa_subsets_keep_the_real_size_proportions():
    out = data.generate(0, 20)
    sizes = {k.split("/")[1]: len(v["train"]) for k, v in out.items() if k.startswith("gpqa/")}
    assert sizes == {"gpqa_extended": 20, "gpqa_main": round(20 * 448 / 546), "gpqa_diamond": round(20 * 198 / 546)}


def test_answers_follow_from_the_question_text():
    out = data.generate(1, 12)
    for row in out["arc_challenge"]["test"]:
        a, b = map(int, re.findall(r"holds (\d+)", row["question"]))
        gold = row["choices"]["text"][row["choices"]["label"].index(row["answerKey"])]
        assert gold.split()[0] == str(a + b)
    for row in out["truthfulqa_mc2"]["validation"]:
        count = re.search(r"exactly (\d+)", row["question"]).group(1)
        assert sum(row["mc1_targets"]["labels"]) == 1 and row["mc1_targets"]["labels"][0] == 1
        for choice, label in zip(row["mc2_targets"]["choices"], row["mc2_targets"]["labels"], strict=True):
            assert (f" {count} " in f" {choice} " or f" {count}." in choice) == bool(label)
    for row in out["gpqa/gpqa_main"]["train"]:
        base, exp = map(int, re.findall(r"\d+", row["Question"]))
        assert row["Correct Answer"] == str(base ** exp)
        assert row["Correct Answer"] not in {row[f"Incorrect Answer {i}"] for i in (1, 2, 3)}
    for split, rows in out["musr"].items():
        for row in rows:
            choices = ast.literal_eval(row["choices"])
            assert choices[row["answer_index"]] == row["answer_choice"], split
    for row in out["winogender"]["test"]:
        assert row["target"] == (row["occupation"], row["participant"])[row["label"]]


def test_bbq_rows_have_one_unknown_answer_and_the_right_gold():
    rows = data.generate(2, 22)["bbq"]["test"]
    assert {r["category"] for r in rows} == set(data.BBQ_CATEGORIES)
    for r in rows:
        answers = [r["ans0"], r["ans1"], r["ans2"]]
        unknown = [a for a in answers if a in data.BBQ_UNKNOWN_ANSWERS]
        assert len(unknown) == 1
        assert r["answer_info"][f"ans{answers.index(unknown[0])}"][1] == "unknown"
        if r["context_condition"] == "ambig":
            assert answers[r["label"]] == unknown[0]
        else:  # the gold person is the one the last sentence of the context names
            assert r["context"].split(". ")[-1].startswith(answers[r["label"]])


def test_validate_rows_names_the_missing_column():
    rows = data.generate(0, 3)["mbpp"]["test"]
    del rows[1]["test_list"]
    with pytest.raises(ValueError, match=r"mbpp.*row 1.*test_list"):
        data.validate_rows("mbpp", rows, source="x.jsonl")
    with pytest.raises(ValueError, match="unknown lm-eval twin benchmark"):
        data.validate_rows("hellaswag", rows)


# ----------------------------------------------------------------------------- MBPP in the sandbox

def test_mbpp_reference_solutions_pass_and_wrong_ones_fail_in_the_sandbox():
    rows = data.generate(4, 9)["mbpp"]["test"]
    for row in rows:
        tests = "\n".join(row["test_list"][:3])  # what the upstream doc_to_target hands the metric
        assert lm_eval_tasks.sandboxed_pass_at_1([tests], [row["code"]]) == 1.0, row["code"]
    wrong = rows[0]["code"].replace("return", "return None and", 1)
    assert lm_eval_tasks.sandboxed_pass_at_1(["\n".join(rows[0]["test_list"])], [wrong]) == 0.0


def test_sandboxed_pass_at_1_scores_hostile_or_malformed_output_zero_without_raising():
    runner.SANDBOX_STATUS.clear()
    tests = "assert add(2, 3) == 5"
    assert lm_eval_tasks.sandboxed_pass_at_1(tests, "def add(a, b):\n    return a + b") == 1.0
    assert lm_eval_tasks.sandboxed_pass_at_1(tests, [["def add(a, b):\n    return a + b"]]) == 1.0  # code_eval's shape
    assert lm_eval_tasks.sandboxed_pass_at_1([tests], ["def add(a, b):\n    return a * b"]) == 0.0
    assert lm_eval_tasks.sandboxed_pass_at_1([tests], ["def add(a, b:\n"]) == 0.0
    assert lm_eval_tasks.sandboxed_pass_at_1([tests], [None]) == 0.0
    assert lm_eval_tasks.sandboxed_pass_at_1([tests, tests], ["x", "y"]) == 0.0
    assert lm_eval_tasks.sandboxed_pass_at_1([tests], ["while True:\n    pass"], timeout_s=1.0) == 0.0
    assert runner.SANDBOX_STATUS["passed"] == 2 and runner.SANDBOX_STATUS["timeout"] == 1
    assert runner.SANDBOX_STATUS["bad_input"] == 2


# ----------------------------------------------------------------------------- twins and lm-eval

def test_materialised_twins_point_at_installed_upstream_yamls_and_data(twins):
    manifest = json.loads((twins / "twins.json").read_text())
    assert manifest["seed"] == 3 and manifest["n"] == N
    upstream = lm_eval_tasks.upstream_tasks_dir()
    for rel in manifest["task_files"]:
        if not rel.endswith(".yaml"):
            continue
        text = (twins / "tasks" / rel).read_text()
        assert "${" not in text
        cfg = yaml.load(text, Loader=lm_eval_tasks._function_loader())  # noqa: S506
        if "include" in cfg:
            assert Path(cfg["include"]).is_absolute() and Path(cfg["include"]).is_file()
            assert Path(cfg["include"]).is_relative_to(upstream)
        for path in cfg.get("dataset_kwargs", {}).get("data_files", {}).values():
            assert Path(path).is_absolute() and Path(path).is_file(), rel


def test_twins_load_with_lm_eval_task_manager_with_upstream_prompts(twins):
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(twins / "tasks"), include_defaults=False)
    loaded = tm.load([t.twin_task for t in runner.TABLE2_TASKS])
    tasks = loaded["tasks"]
    assert set(loaded["groups"]) >= {"leaderboard_gpqa_twin", "leaderboard_musr_twin"}
    expected_docs = {
        "truthfulqa_mc2_twin": len(_rows(twins, "truthfulqa_mc2/validation.jsonl")),
        "bbq_twin": N, "mbpp_twin": N, "arc_challenge_twin": N, "winogender_all_twin": N,
        "leaderboard_gpqa_main_twin": len(_rows(twins, "gpqa/gpqa_main/train.jsonl")),
        "leaderboard_musr_team_allocation_twin": N,
    }
    for name, n_docs in expected_docs.items():
        assert len(list(tasks[name].eval_docs)) == n_docs, name
    upstream = lm_eval_tasks.upstream_tasks_dir()
    from lm_eval.tasks._yaml_loader import load_yaml

    for twin, rel in [("arc_challenge_twin", "arc/arc_challenge.yaml"), ("winogender_all_twin", "winogender/winogender.yaml"),
                      ("truthfulqa_mc2_twin", "truthfulqa/truthfulqa_mc2.yaml"),
                      ("leaderboard_gpqa_diamond_twin", "leaderboard/gpqa/gpqa_diamond_zeroshot.yaml")]:
        up = load_yaml(upstream / rel, resolve_func=False)
        assert tasks[twin].config.doc_to_text == up["doc_to_text"], twin
        assert tasks[twin].config.output_type == up["output_type"], twin
    # Functions come from the upstream utils modules, not copies.
    assert tasks["bbq_twin"].config.process_results.__module__.endswith("bbq.utils")
    assert tasks["leaderboard_musr_murder_mysteries_twin"].config.doc_to_text.__module__.endswith("musr.utils")
    # The ARC prompt renders a real row as upstream's template does.
    doc = tasks["arc_challenge_twin"].eval_docs[0]
    assert tasks["arc_challenge_twin"].doc_to_text(doc) == f"Question: {doc['question']}\nAnswer:"
    assert tasks["arc_challenge_twin"].config.num_fewshot in (None, 0)


def test_mbpp_twin_keeps_upstream_prompt_and_fewshots_with_the_sandbox_metric(twins):
    from lm_eval.tasks import TaskManager

    up = yaml.load((lm_eval_tasks.upstream_tasks_dir() / "mbpp" / "mbpp.yaml").read_text(),  # noqa: S506
                   Loader=lm_eval_tasks._function_loader())
    task = TaskManager(include_path=str(twins / "tasks"), include_defaults=False).load(["mbpp_twin"])["tasks"]["mbpp_twin"]
    for key in ("doc_to_text", "target_delimiter", "num_fewshot", "output_type", "test_split"):
        assert getattr(task.config, key) == up[key], key
    # The one change: the problem's test_setup_code goes before the asserts (tests/test_mbpp_setup_code.py).
    assert task.config.doc_to_target == up["doc_to_target"].replace("{% else %}", "{% else %}{{test_setup_code}}\n", 1)
    assert task.config.generation_kwargs["until"] == up["generation_kwargs"]["until"]
    assert task.UNSAFE_CODE
    samples = lm_eval_tasks.upstream_mbpp_fewshot_samples()
    assert [s["task_id"] for s in samples] == [2, 3, 4] and all(s["is_fewshot"] for s in samples)
    ctx = task.fewshot_context(task.eval_docs[0], num_fewshot=3)
    assert samples[0]["code"] in ctx and task.eval_docs[0]["test_list"][2] in ctx
    assert list(task._metric_fn_list) == ["pass_at_1"]


def test_bad_task_spec_and_missing_twins_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="paper' or 'twins:DIR"):
        runner.resolve_task_set("hellaswag", tmp_path)
    with pytest.raises(FileNotFoundError, match="--materialise-twins"):
        runner.resolve_task_set(f"twins:{tmp_path}", tmp_path)


def test_paper_task_set_uses_the_real_names_and_a_sandboxed_mbpp(tmp_path):
    names, include, include_defaults, keys = runner.resolve_task_set("paper", tmp_path)
    assert keys == {"truthfulqa": "truthfulqa_mc2", "bbq": "bbq", "mbpp": "mbpp_sandboxed",
                    "arc_challenge": "arc_challenge", "winogender": "winogender_all",
                    "gpqa": "leaderboard_gpqa", "musr": "leaderboard_musr"}
    assert include_defaults
    cfg = yaml.load((include / "mbpp" / "mbpp_sandboxed.yaml").read_text(), Loader=lm_eval_tasks._function_loader())  # noqa: S506
    assert cfg["dataset_path"] == "google-research-datasets/mbpp" and cfg["metric_list"][0]["metric"] == "utils.pass_at_1"
    assert (include / "mbpp" / "utils.py").is_file()
