"""Datasets: registry, synthetic twins in the hub schemas, mapping, local/hub sources and bad input."""

from __future__ import annotations

import json
import re
import time
from fractions import Fraction

import pytest

from gift.data import REGISTRY, DataSourceError, SchemaError, generate, get_spec, map_rows, prepare
from gift.data.prepare import cli
from gift.files import read_jsonl, write_jsonl
from gift.rewards import REWARD_KINDS, verifiable_reward


def test_registry_names_every_paper_dataset_with_pinned_source():
    assert set(REGISTRY) == {"gsm8k", "math", "dapo_math", "aime2024", "infinity_instruct", "numina_distill"}
    for spec in REGISTRY.values():
        assert spec.hub_id.count("/") == 1 and spec.revision and spec.splits and spec.columns
        assert spec.reward in REWARD_KINDS
    assert re.fullmatch(r"[0-9a-f]{40}", get_spec("gsm8k").revision)
    with pytest.raises(ValueError, match="known datasets"):
        get_spec("gsm9k")


def test_synthetic_twins_are_deterministic_for_a_seed():
    assert generate("gsm8k", seed=3) == generate("gsm8k", seed=3)
    assert generate("gsm8k", seed=3)["test"] != generate("gsm8k", seed=4)["test"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_synthetic_rows_have_the_hub_columns(name):
    from gift.data.mapping import missing_columns

    spec = get_spec(name)
    raw = generate(name, seed=0, sizes=dict.fromkeys(spec.splits, 20))
    assert set(raw) == set(spec.splits)
    for rows in raw.values():
        assert all(missing_columns(r, spec.columns) == [] for r in rows)


def _eval_chain(lines: list[str]) -> int:
    """Re-evaluate 'a op b = r' lines independently; each result must feed the next step."""
    value = None
    for line in lines:
        m = re.fullmatch(r"(\d+)([-+*])(\d+)=(\d+)", line)
        assert m, line
        a, op, b, r = int(m[1]), m[2], int(m[3]), int(m[4])
        assert value is None or a == value
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        assert value == r and value >= 0
    return value


def test_gsm8k_twin_answers_are_correct():
    for row in generate("gsm8k", seed=1)["test"]:
        *lines, last = row["answer"].split("\n")
        assert last == f"#### {_eval_chain(lines)}"
        # The question's numbers replay to the same answer.
        nums = [int(x) for x in re.findall(r"\d+", row["question"])]
        value = nums[0]
        for sentence, n in zip(re.split(r"(?<=\.) ", row["question"])[1:], nums[1:], strict=False):
            value = value + n if "more" in sentence else value - n if "away" in sentence else value * n
        assert last == f"#### {value}"


def test_math_twin_boxed_answers_are_correct():
    for row in generate("math", seed=2)["test"]:
        boxed = re.search(r"\\boxed\{(.+)\}\$", row["solution"])[1]
        p = row["problem"]
        if p.startswith("Compute"):
            expr = re.search(r"\$(.+)\$", p)[1].replace("\\times", "*")
            assert str(eval(expr)) == boxed  # noqa: S307 - our own generated arithmetic
        elif p.startswith("Solve"):
            m = re.search(r"\$(\d*)x(?:\+(\d+))?=(\d+)\$", p)
            a, b, c = int(m[1] or 1), int(m[2] or 0), int(m[3])
            assert Fraction(c - b, a) == int(boxed)
        elif p.startswith("What is the remainder"):
            a, b = map(int, re.findall(r"\$(\d+)\$", p))
            assert a % b == int(boxed)
        else:
            p_, q_ = map(int, re.search(r"frac\{(\d+)\}\{(\d+)\}", p).groups())
            bp, bq = map(int, re.search(r"frac\{(\d+)\}\{(\d+)\}", boxed).groups())
            assert Fraction(p_, q_) == Fraction(bp, bq) and Fraction(bp, bq).denominator == bq


def test_dapo_twin_repeats_rows_like_the_hub_and_mapping_deduplicates():
    spec = get_spec("dapo_math")
    raw = generate("dapo_math", seed=0, sizes={"train": 50})["train"]
    assert len(raw) == 100
    examples, counts = map_rows(spec, "train", raw)
    assert len(examples) == 50 and counts["duplicates"] == 50
    for ex in examples:
        assert ex["reward"] == "dapo" and verifiable_reward("dapo", ex["reference"], ex["ground_truth"]) == 1.0
        assert ex["prompt"][0]["content"].startswith("Solve the following math problem step by step.")


def test_aime_twin_is_disjoint_from_the_dapo_twin():
    dapo = {r["prompt"][0]["content"] for r in generate("dapo_math", seed=0)["train"]}
    aime = {r["prompt"][0]["content"] for r in generate("aime2024", seed=0)["test"]}
    assert not dapo & aime


def test_gsm8k_mapping_of_a_real_format_row():
    row = {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
                       "in May. How many clips did Natalia sell altogether in April and May?",
           "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
                     "altogether in April and May.\n#### 1,072"}
    (ex,), _ = map_rows(get_spec("gsm8k"), "train", [row])
    assert ex["ground_truth"] == "1072"
    assert ex["prompt"][0]["content"].endswith('output the final answer after "####".')
    assert "<<" not in ex["reference"] and ex["reference"].endswith("#### 1072")
    assert ex["id"] == "gsm8k-train-00000" and ex["dataset"] == "gsm8k"


def test_math_mapping_takes_the_last_box_with_nested_braces():
    row = {"problem": "What is $\\frac{2}{4}$?", "level": "Level 1", "type": "Prealgebra",
           "solution": "First $\\boxed{2}$ is wrong; it is $\\boxed{\\frac{1}{2}}$."}
    (ex,), _ = map_rows(get_spec("math"), "test", [row])
    assert ex["ground_truth"] == "\\frac{1}{2}" and ex["reward"] == "math"


def test_math_ground_truth_is_read_as_verls_preprocessing_reads_it():
    # verl's math_dataset.py takes remove_boxed(last_boxed_only_string(solution)): the '\\boxed ' form wins
    spec = get_spec("math")
    row = {"problem": "p", "level": "Level 1", "type": "Algebra",
           "solution": "So $x = \\boxed 3$; checking, $\\boxed{4}$."}
    (ex,), _ = map_rows(spec, "test", [row])
    assert ex["ground_truth"] == "3"
    # where verl's reader finds nothing (an '\\fbox'), the general one still gives the answer
    (ex,), _ = map_rows(spec, "test", [{**row, "solution": "so $\\fbox{5}$"}])
    assert ex["ground_truth"] == "5"


def test_infinity_mapping_keeps_the_dialogue_and_takes_the_last_response_as_reference():
    row = {"id": 1, "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"},
                                      {"from": "human", "value": "bye"}, {"from": "gpt", "value": "ciao"}]}
    (ex,), _ = map_rows(get_spec("infinity_instruct"), "train", [row])
    assert ex["prompt"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                            {"role": "user", "content": "bye"}]
    assert ex["reference"] == "ciao" and ex["ground_truth"] is None and ex["reward"] == "reward_model"


def test_numina_mapping_has_expert_and_teachers_some_wrong():
    examples, _ = map_rows(get_spec("numina_distill"), "train", generate("numina_distill", 0)["train"][:200])
    n_wrong = 0
    for ex in examples:
        assert verifiable_reward("math", ex["expert"], ex["ground_truth"]) == 1.0
        assert len(ex["teachers"]) == 3
        n_wrong += sum(verifiable_reward("math", t, ex["ground_truth"]) == 0.0 for t in ex["teachers"])
    assert 0.2 < n_wrong / (3 * len(examples)) < 0.6


def test_unmappable_rows_are_counted_not_fatal():
    rows = [{"question": "q", "answer": "no marker"}, {"question": "q2", "answer": "x\n#### 5"}]
    examples, counts = map_rows(get_spec("gsm8k"), "train", rows)
    assert len(examples) == 1 and counts["unmappable"] == 1 and "####" in counts["first_error"]


def test_prepare_writes_every_split_in_the_prepared_format(tmp_path):
    summary = prepare("math", "synthetic", tmp_path, seed=0, limits={"train": 30})
    assert summary["splits"]["train"]["examples"] == 30
    for split in ("train", "test"):
        rows = read_jsonl(tmp_path / f"{split}.jsonl")
        assert len({r["id"] for r in rows}) == len(rows)
        for r in rows:
            assert {"id", "dataset", "prompt", "ground_truth", "reward"} <= set(r)
            assert r["prompt"][-1]["role"] == "user"
            assert verifiable_reward("math", r["reference"], r["ground_truth"]) == 1.0
    assert json.loads((tmp_path / "summary.json").read_text())["eval_split"] == "test"


def test_local_copy_in_hub_layout_gives_the_same_examples(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = generate("gsm8k", seed=5, sizes={"train": 20, "test": 10})
    (tmp_path / "src" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(raw["train"]), tmp_path / "src/data/train-00000-of-00001.parquet")
    write_jsonl(tmp_path / "src/test.jsonl", raw["test"])
    local = prepare("gsm8k", "local", tmp_path / "a", path=str(tmp_path / "src"))
    assert local["splits"]["train"]["examples"] == 20
    expected, _ = map_rows(get_spec("gsm8k"), "test", raw["test"])
    assert read_jsonl(tmp_path / "a/test.jsonl") == expected


def test_local_file_with_missing_columns_names_them_and_the_dataset(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"problem": "p", "solution": "\\boxed{1}"}])
    write_jsonl(tmp_path / "test.jsonl", [{"problem": "p", "solution": "\\boxed{1}"}])
    with pytest.raises(SchemaError, match=r"'math'.*missing column\(s\) level, type"):
        prepare("math", "local", tmp_path / "out", path=str(tmp_path))
    assert not (tmp_path / "out").exists()


def test_local_nested_column_missing_is_named(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"data_source": "x", "prompt": [], "ability": "m",
                                            "reward_model": {"style": "rule"}, "extra_info": {}}])
    with pytest.raises(SchemaError, match=r"reward_model\.ground_truth"):
        prepare("dapo_math", "local", tmp_path / "out", path=str(tmp_path))


def test_empty_split_is_an_error_and_nothing_is_written(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", generate("gsm8k", 0, sizes={"train": 5, "test": 5})["train"])
    (tmp_path / "test.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"split 'test' is empty"):
        prepare("gsm8k", "local", tmp_path / "out", path=str(tmp_path))
    assert not (tmp_path / "out").exists()


def test_local_missing_split_file_is_named(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", generate("gsm8k", 0, sizes={"train": 5, "test": 5})["train"])
    with pytest.raises(DataSourceError, match=r"no file for split 'test'"):
        prepare("gsm8k", "local", tmp_path / "out", path=str(tmp_path))


def test_hub_while_offline_fails_fast_naming_the_dataset_and_local(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    t0 = time.time()
    with pytest.raises(DataSourceError, match=r"'aime2024'.*BytedTsinghua-SIA/AIME-2024.*--source local --path"):
        prepare("aime2024", "hub", tmp_path / "out")
    assert time.time() - t0 < 2.0


def test_hub_unreachable_fails_fast(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(DataSourceError, match=r"'gsm8k'.*unreachable"):
        prepare("gsm8k", "hub", tmp_path / "out")


def test_hub_loading_uses_the_pinned_revision(monkeypatch, tmp_path):
    import datasets

    from gift.data import loading

    calls = []

    class FakeSplit:
        def __init__(self, rows):
            self.rows = rows

        def to_list(self):
            return self.rows

    raw = generate("gsm8k", 0, sizes={"train": 4, "test": 3})

    def fake_load_dataset(path, name=None, split=None, revision=None):  # the hub cannot be reached here
        calls.append((path, name, split, revision))
        return FakeSplit(raw[split])

    monkeypatch.setattr(loading, "hub_offline_reason", lambda: None)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    summary = prepare("gsm8k", "hub", tmp_path / "out")
    assert sorted(calls) == [("openai/gsm8k", "main", s, get_spec("gsm8k").revision) for s in ("test", "train")]
    assert summary["splits"]["test"]["examples"] == 3


def test_cli_prepares_and_reports_bad_input(tmp_path, capsys):
    assert cli(["--dataset", "aime2024", "--source", "synthetic", "--out", str(tmp_path / "a")]) == 0
    assert "aime2024" in capsys.readouterr().out
    assert len(read_jsonl(tmp_path / "a/test.jsonl")) == get_spec("aime2024").synthetic_sizes["test"]
    assert cli(["--dataset", "gsm8k", "--source", "synthetic", "--out", str(tmp_path / "b"),
                "--limit", "train=abc"]) == 2
    assert "SPLIT=N" in capsys.readouterr().err
    assert cli(["--dataset", "gsm8k", "--source", "synthetic", "--out", str(tmp_path / "b"),
                "--limit", "valid=3"]) == 2
    assert "unknown split" in capsys.readouterr().err
    assert cli(["--dataset", "gsm8k", "--source", "local", "--out", str(tmp_path / "b")]) == 2
    assert "--path" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["gsm8k", "math", "dapo_math", "aime2024", "numina_distill"])
def test_twin_references_score_under_verls_rules_and_a_wrong_answer_does_not(name):
    # the warm start imitates these references: if verl's rule could not read them, every tiny reward would be 0
    rule = {"gsm8k": "gsm8k", "math": "math", "dapo_math": "dapo", "aime2024": "dapo", "numina_distill": "math"}[name]
    raw = generate(name, seed=0)
    for split, rows in raw.items():
        examples, _ = map_rows(get_spec(name), split, rows)
        for ex in examples:
            reference = ex.get("reference") or ex["expert"]
            truth = ex["ground_truth"]
            assert verifiable_reward(rule, reference, truth) == 1.0, (split, reference, truth)
            assert verifiable_reward(ex["reward"], reference, truth) == 1.0
            wrong = f"{truth}9" if not truth.startswith("\\frac") else truth.replace("}{", "1}{")
            head, _, tail = reference.rpartition(truth)
            assert verifiable_reward(rule, head + wrong + tail, truth) == 0.0, (head + wrong + tail, truth)


def test_dapo_and_aime_prompts_ask_for_an_answer_line():
    # verl's DAPO rule reads only an 'Answer:' line: the prompts say so, as the hub files do
    for name in ("dapo_math", "aime2024"):
        (split, rows), *_ = generate(name, seed=0).items()
        examples, _ = map_rows(get_spec(name), split, rows[:4])
        for ex in examples:
            text = ex["prompt"][-1]["content"]
            assert "The last line of your response should be of the form Answer: $Answer" in text
            assert text.endswith('Remember to put your answer on its own line after "Answer:".')


def test_prepare_writes_the_configs_reward_into_every_example(tmp_path):
    summary = prepare("math", "synthetic", tmp_path / "m", seed=0, limits={"train": 5, "test": 5},
                      reward="math_verify")
    assert summary["reward"] == "math_verify"
    assert {r["reward"] for s in ("train", "test") for r in read_jsonl(tmp_path / f"m/{s}.jsonl")} == {"math_verify"}
    assert prepare("aime2024", "synthetic", tmp_path / "a", seed=0)["reward"] == "dapo"
    with pytest.raises(ValueError, match="needs a verifiable reward"):
        prepare("math", "synthetic", tmp_path / "x", seed=0, reward="reward_model")
    with pytest.raises(ValueError, match="needs reward_model"):
        prepare("infinity_instruct", "synthetic", tmp_path / "x", seed=0, reward="dapo")
    assert not (tmp_path / "x").exists()
