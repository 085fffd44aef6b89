"""Global batch sizes in prompts -> TRL's per-device fields for a world size, and the refusals."""

from __future__ import annotations

import json

import pytest

from gift.batching import BatchError, derive, resolve


def test_derived_fields_give_the_papers_prompt_counts_on_any_world_size_that_divides_them():
    for world, n in [(w, n) for w in (1, 2, 4, 8, 16, 32, 64, 128, 256) for n in (1, 4, 16, 32)]:
        _check_counts(world, n)


def _check_counts(world: int, n: int) -> None:
    d = derive(n, 1024, 256, 1, world)
    # the counts TRL will process: completions per optimizer step and per generation, over all processes
    rows_per_update = world * d["per_device_train_batch_size"] * d["gradient_accumulation_steps"]
    rows_per_rollout = world * d["per_device_train_batch_size"] * d["steps_per_generation"]
    assert rows_per_update == 256 * n and rows_per_rollout == 1024 * n
    assert d["steps_per_generation"] // d["gradient_accumulation_steps"] == 4
    assert d["per_device_train_batch_size"] == n  # one whole group per micro-batch


def test_paper_numbers_on_eight_gpus():
    # the numbers paper.yaml wrote by hand for 8 processes before they were derived
    assert derive(16, 1024, 256, 1, 8) == {"per_device_train_batch_size": 16, "gradient_accumulation_steps": 32,
                                           "steps_per_generation": 128}


@pytest.mark.parametrize("args, words", [
    ((16, 1024, 256, 1, 6), ["optimizer_batch_prompts 256", "6 process(es)", "= 6"]),
    ((16, 1024, 256, 4, 128), ["optimizer_batch_prompts 256", "128 process(es)", "micro_batch_prompts 4", "= 512"]),
    ((16, 1000, 256, 1, 8), ["rollout_batch_prompts 1000", "optimizer_batch_prompts 256"]),
    ((16, 1024, 0, 1, 8), ["optimizer_batch_prompts", "positive"]),
])
def test_sizes_that_cannot_be_met_exactly_are_refused_with_the_numbers(args, words):
    with pytest.raises(BatchError) as err:
        derive(*args)
    for word in words:
        assert word in str(err.value)


def test_direct_trl_fields_that_contradict_the_global_sizes_are_refused():
    kwargs = {"num_generations": 4, "per_device_train_batch_size": 8}
    with pytest.raises(BatchError, match=r"per_device_train_batch_size = 8 \(the global sizes give 16\)"):
        resolve(kwargs, 16, 4, 4, 1)
    # the same fields, in agreement, are accepted
    out, plan = resolve({"num_generations": 4, "per_device_train_batch_size": 16, "steps_per_generation": 4},
                        16, 4, 4, 1)
    assert (out["gradient_accumulation_steps"], out["steps_per_generation"]) == (1, 4)
    assert plan["source"] == "global batch sizes" and plan["updates_per_rollout_batch"] == 4
    with pytest.raises(BatchError, match="optimizer_batch_prompts is missing"):
        resolve({"num_generations": 4}, 16, None, None, 1)


def test_direct_trl_fields_still_work_and_the_plan_reports_what_they_imply():
    out, plan = resolve({"num_generations": 4, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2},
                        None, None, None, 3)
    assert out["per_device_train_batch_size"] == 8 and "steps_per_generation" not in out
    # 3 processes x 8 rows x 2 accumulation steps / 4 responses = 12 prompts per update; TRL's default
    # steps_per_generation (= accumulation) makes the rollout batch the same
    assert plan == {"source": "per-device fields", "micro_batch_prompts": 2, "optimizer_batch_prompts": 12,
                    "rollout_batch_prompts": 12, "world_size": 3, "num_generations": 4,
                    "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "steps_per_generation": 2,
                    "updates_per_rollout_batch": 1}


def _grid(capsys, *args):
    from gift.cli import main

    code = main(["grid", "--config", "config/paper.yaml", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_gift_grid_json_shows_every_paper_run_fully_resolved(capsys):
    code, out, err = _grid(capsys, "--json", "--world-size", "16")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["world_size"] == 16
    runs = {r["run_id"]: r for r in doc["runs"]}
    fig3 = runs["deepseek-llm-7b-chat-gsm8k-gift-s0"]
    # GIFT follows the author's code: rhat against the sampling policy, 4 updates per rollout batch
    assert fig3["method_args"]["implicit_reference"] == "rollout" and fig3["method_args"]["singleton"] == "author"
    assert fig3["batch"]["updates_per_rollout_batch"] == 4
    assert (fig3["method_args"]["per_device_train_batch_size"], fig3["method_args"]["gradient_accumulation_steps"],
            fig3["method_args"]["steps_per_generation"]) == (16, 16, 64)
    assert "fig_reference" in fig3["figures"] and "fig3" in fig3["figures"]
    ablation = runs["deepseek-llm-7b-chat-gsm8k-gift-reference-s0"]
    assert ablation["method_args"]["implicit_reference"] == "reference" and ablation["figures"] == ["fig_reference"]
    assert runs["deepseek-llm-7b-chat-gsm8k-gift-n1-s0"]["method_args"]["per_device_train_batch_size"] == 1
    # an override reaches the resolved args: the lower learning rate of Qwen2.5-32B on DAPO
    assert runs["qwen2.5-32b-dapo_math-gift-s0"]["method_args"]["learning_rate"] == pytest.approx(1e-6)
    gft = runs["qwen2.5-math-1.5b-numina_distill-gft-s0"]
    assert (gft["batch"]["rollout_batch_prompts"], gft["batch"]["optimizer_batch_prompts"]) == (128, 64)
    assert gft["run_config"]["rollout_batch_prompts"] == 128


def test_gift_grid_names_runs_a_world_size_cannot_meet(capsys):
    code, out, err = _grid(capsys, "--world-size", "6")
    assert code == 1
    assert "cannot start on 6 process(es)" in err and "optimizer_batch_prompts 256" in err
    assert "deepseek-llm-7b-chat-gsm8k-gift-s0" in out
