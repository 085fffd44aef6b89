"""Bad input, case by case: each ends in one message naming the file, field or row, exit status 2, no traceback.

The CLI cases call `gift.cli.main` in-process (the same error path as the `gift` command, without a
new interpreter per case); a few end-to-end cases run the command and Snakemake in a subprocess.
The reward and judge cases feed hostile model output and check that it is scored 0 (or counted as an
error) and named, never raised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from gift.cli import main
from gift.files import read_jsonl

ROOT = Path(__file__).resolve().parent.parent
SMOKE = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
ROWS = [{"id": "q1", "prompt": [{"role": "user", "content": "1+1?"}], "ground_truth": "2"},
        {"id": "q2", "prompt": "2+2?", "ground_truth": "4"}]


@pytest.fixture(autouse=True)
def _error_log(tmp_path, monkeypatch):
    monkeypatch.setenv("GIFT_ERROR_LOG", str(tmp_path / "error.log"))
    monkeypatch.delenv("GIFT_DEBUG", raising=False)


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run_config(tmp: Path, **over) -> dict:
    cfg = {"run_id": "r", "method": "gift", "model": str(tmp / "model"), "train_data": str(_jsonl(tmp / "d.jsonl", ROWS)),
           "reward": "gsm8k", "output_dir": str(tmp / "run"), "max_steps": 2,
           "method_args": {"num_generations": 2, "max_completion_length": 8}}
    cfg.update(over)
    return cfg


def _write_yaml(tmp: Path, cfg, name: str = "run.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg) if not isinstance(cfg, str) else cfg)
    return path


def _raw(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def _train(tmp: Path, *extra: str, **over) -> list[str]:
    return ["train", "--config", str(_write_yaml(tmp, _run_config(tmp, **over))), *extra]


def _train_rows(tmp: Path, rows, raw: bytes | None = None, **over) -> list[str]:
    data = tmp / "bad.jsonl"
    if raw is not None:
        data.write_bytes(raw)
    else:
        _jsonl(data, rows)
    return _train(tmp, **{"train_data": str(data), **over})


def _model_without_config(tmp: Path) -> list[str]:
    (tmp / "empty-model").mkdir()
    return _train(tmp, model=str(tmp / "empty-model"))


def _workflow(tmp: Path, edit) -> list[str]:
    cfg = json.loads(json.dumps(SMOKE))
    edit(cfg)
    return ["config", "check", str(_write_yaml(tmp, cfg, "workflow.yaml"))]


def _set(path: str, value):
    def edit(cfg):
        keys = path.split(".")
        target = cfg
        for k in keys[:-1]:
            target = target.setdefault(k, {})
        target[keys[-1]] = value
    return edit


# (case id, argv builder(tmp_path), words the message must contain)
CLI_CASES = [
    ("unknown-command", lambda t: ["trian"], ["unknown command 'trian'"]),
    ("config-missing", lambda t: ["train", "--config", str(t / "nope.yaml")], ["nope.yaml", "does not exist"]),
    ("config-is-directory", lambda t: ["train", "--config", str(t)], ["is a directory"]),
    ("config-malformed-yaml", lambda t: ["train", "--config", str(_write_yaml(t, "run_id: [unclosed\n"))],
     ["run.yaml:2", "not valid YAML"]),
    ("config-not-utf8", lambda t: ["train", "--config", _raw(t, "run.yaml", b"run_id: caf\xe9\n")],
     ["run.yaml", "not UTF-8", "0xe9"]),
    ("config-not-a-mapping", lambda t: ["train", "--config", str(_write_yaml(t, "- a\n- b\n"))],
     ["expected a mapping of fields, got list"]),
    ("unknown-field", lambda t: _train(t, max_step=3), ["unknown field(s) max_step", "did you mean max_steps"]),
    ("missing-field", lambda t: _train(t, model=None), ["missing required field(s): model"]),
    ("max-steps-zero", lambda t: _train(t, max_steps=0), ["field 'max_steps'", "got 0"]),
    ("max-steps-negative", lambda t: _train(t, max_steps=-5), ["field 'max_steps'", "got -5"]),
    ("train-limit-negative", lambda t: _train(t, train_limit=-3), ["field 'train_limit'", ">= 1", "got -3"]),
    ("eval-limit-zero", lambda t: _train(t, eval_limit=0), ["field 'eval_limit'", "got 0"]),
    ("seed-not-integer", lambda t: _train(t, seed="abc"), ["field 'seed'", "must be an integer", "'abc'"]),
    ("seed-float", lambda t: _train(t, seed=1.5), ["field 'seed'", "must be an integer"]),
    ("eval-temperature-zero", lambda t: _train(t, eval_temperature=0), ["field 'eval_temperature'", "> 0"]),
    ("eval-greedy-not-bool", lambda t: _train(t, eval_greedy="no"), ["field 'eval_greedy'", "true or false", "'no'"]),
    ("epochs-negative", lambda t: _train(t, max_steps=-1, num_train_epochs=-1), ["field 'num_train_epochs'", "> 0"]),
    ("save-every-zero", lambda t: _train(t, save_every=0), ["field 'save_every'", ">= 1"]),
    ("reward-unknown", lambda t: _train(t, reward="gsm8", ), ["field 'reward'", "did you mean gsm8k"]),
    ("reward-args-unknown", lambda t: _train(t, reward="math_verify", reward_args={"verify_cpu": 3}),
     ["field 'reward_args'", "'verify_cpu'", "did you mean verify_cpu_s"]),
    ("reward-args-bad-value", lambda t: _train(t, reward="math_verify", reward_args={"verify_cpu_s": -1}),
     ["verify_cpu_s must be a number of CPU-seconds"]),
    ("reward-model-missing", lambda t: _train(t, reward="reward_model"), ["field 'reward_model' is required"]),
    ("method-unknown", lambda t: _train(t, method="grop"), ["unknown method 'grop'", "did you mean grpo"]),
    ("method-table-only", lambda t: _train(t, method="ppo"), ["not trainable"]),
    ("method-args-bad-choice", lambda t: _train(t, method_args={"implicit_reference": "pi_ref"}),
     ["method_args.implicit_reference: must be one of reference, rollout, got 'pi_ref'"]),
    ("method-args-typo", lambda t: _train(t, method_args={"gift_betta": 1.0}),
     ["method_args.gift_betta", "did you mean gift_beta"]),
    ("method-args-negative-length", lambda t: _train(t, method_args={"max_completion_length": -1}),
     ["method_args.max_completion_length: must be >= 1, got -1"]),
    ("method-args-not-a-number", lambda t: _train(t, method_args={"learning_rate": "fast"}),
     ["method_args.learning_rate: must be a number, got 'fast'"]),
    ("method-args-zero-lr", lambda t: _train(t, method_args={"learning_rate": 0}),
     ["method_args.learning_rate: must be > 0"]),
    ("method-args-wrong-type", lambda t: _train(t, method_args={"num_generations": "four"}),
     ["method_args.num_generations: must be a number, got 'four'"]),
    ("grpo-group-of-one", lambda t: _train(t, method="grpo", method_args={"num_generations": 1}),
     ["num_generations must be >= 2"]),
    ("output-dir-is-a-file", lambda t: _train(t, output_dir=str(_jsonl(t / "f.jsonl", ROWS))),
     ["field 'output_dir'", "is a file"]),
    ("set-without-equals", lambda t: _train(t, "--set", "max_steps"), ["--set 'max_steps'", "KEY=VALUE"]),
    ("set-into-a-scalar", lambda t: _train(t, "--set", "max_steps.x=1"), ["'max_steps' is not a mapping"]),
    ("train-data-missing", lambda t: _train(t, train_data=str(t / "none.jsonl")),
     ["train_data", "none.jsonl does not exist", "gift data prepare"]),
    ("train-data-is-directory", lambda t: _train(t, train_data=str(t)), ["train_data", "is a directory"]),
    ("train-data-not-utf8", lambda t: _train_rows(t, None, raw=json.dumps(ROWS[0]).encode() + b"\n\xff\xfe{}\n"),
     ["bad.jsonl:2", "not UTF-8"]),
    ("train-data-bad-json", lambda t: _train_rows(t, None, raw=b'{"id": "q1",\n'), ["bad.jsonl:1", "not valid JSON"]),
    ("train-data-row-not-object", lambda t: _train_rows(t, [ROWS[0], [1, 2]]),
     ["bad.jsonl:2", "expected a JSON object, got list"]),
    ("train-data-empty", lambda t: _train_rows(t, []), ["train_data", "is empty"]),
    ("train-row-without-prompt", lambda t: _train_rows(t, [ROWS[0], {"id": "q9", "ground_truth": "1"}]),
     ["row 1 (id 'q9') has no 'prompt'"]),
    ("train-rows-without-ground-truth",
     lambda t: _train_rows(t, [ROWS[0]] + [{"id": f"x{i}", "prompt": "p"} for i in range(7)]),
     ["7 of 8 rows have no 'ground_truth'", "first: x0, x1, x2, x3, x4", "'gsm8k'"]),
    ("eval-rows-without-ground-truth",
     lambda t: _train(t, eval_data=str(_jsonl(t / "e.jsonl", [{"id": "e1", "prompt": "p"}])), eval_every=1),
     ["eval_data", "1 of 1 rows have no 'ground_truth' (first: e1)", "pass@1"]),
    ("eval-every-without-data", lambda t: _train(t, eval_every=5), ["field 'eval_data' is required"]),
    ("model-dir-without-config", _model_without_config, ["no config.json", "from_pretrained"]),
    ("model-neither-dir-nor-hub-id", lambda t: _train(t, model="./no/such/model"),
     ["'./no/such/model' is neither an existing directory nor a hub id", "`model`"]),
    ("eval-rlvr-bad-data", lambda t: ["eval", "rlvr", "--model", str(t), "--out", str(t / "o.json"),
                                      "--data", _raw(t, "e.jsonl", b"{\n")], ["e.jsonl:1", "not valid JSON"]),
    ("data-prepare-missing-path", lambda t: ["data", "prepare", "--dataset", "gsm8k", "--source", "local",
                                             "--path", str(t / "gone"), "--out", str(t / "out")],
     ["local path", "gone does not exist"]),
    ("data-prepare-bad-parquet", lambda t: ["data", "prepare", "--dataset", "aime2024", "--source", "local",
                                            "--path", _raw(t, "x.parquet", b"not parquet"), "--out", str(t / "out")],
     ["x.parquet", "not a readable parquet file"]),
    ("data-prepare-bad-limit", lambda t: ["data", "prepare", "--dataset", "gsm8k", "--source", "synthetic",
                                          "--out", str(t / "out"), "--limit", "train=lots"], ["train=lots"]),
    # workflow configs, checked as the workflow checks them when it builds its DAG
    ("workflow-args-typo", lambda t: _workflow(t, _set("methods.gift.args.gift_betta", 1.0)),
     ["methods.gift.args.gift_betta", "did you mean gift_beta"]),
    ("workflow-args-wrong-method", lambda t: _workflow(t, _set("training.method_args.gift_beta", 2.0)),
     ["unknown config field(s): training.method_args.gift_beta"]),
    ("workflow-args-bad-value", lambda t: _workflow(t, _set("experiments.fig3.method_args",
                                                            {"max_completion_length": -1})),
     ["experiments.fig3.method_args.max_completion_length: must be >= 1"]),
    ("workflow-args-bad-choice", lambda t: _workflow(t, _set("methods.gift.args.singleton", "autor")),
     ["methods.gift.args.singleton: must be one of author, pointwise, got 'autor'", "did you mean author"]),
    ("workflow-variant-bad-choice", lambda t: _workflow(t, lambda c: c["experiments"]["fig2b"]["variants"][0]
                                                        ["args"].update(implicit_aggregation="average")),
     ["experiments.fig2b.variants[kl_sum].args.implicit_aggregation: must be one of sum, mean, power"]),
    ("workflow-variant-typo", lambda t: _workflow(t, lambda c: c["experiments"]["fig2b"]["variants"][0]["args"]
                                                  .update(implicit_agregation="sum")),
     ["experiments.fig2b.variants[kl_sum].args.implicit_agregation", "did you mean implicit_aggregation"]),
    ("workflow-backbone-args-type", lambda t: _workflow(t, _set("backbones.tiny.method_args",
                                                                {"temperature": "hot"})),
     ["backbones.tiny.method_args.temperature: must be a number, got 'hot'"]),
    ("workflow-schema", lambda t: _workflow(t, _set("training.max_steps", "two")),
     ["training.max_steps", "'two' is not of type 'integer'"]),
    ("workflow-unknown-method", lambda t: _workflow(t, _set("experiments.fig3.methods", ["gift", "ppo2"])),
     ["experiments.fig3.methods", "'ppo2'"]),
    ("workflow-not-utf8", lambda t: ["config", "check", _raw(t, "w.yaml", b"name: \xff\n")], ["w.yaml", "not UTF-8"]),
    ("workflow-malformed", lambda t: ["config", "check", str(_write_yaml(t, "name: [x\n", "w.yaml"))],
     ["w.yaml:2", "not valid YAML"]),
    ("workflow-missing", lambda t: ["config", "check", str(t / "absent.yaml")], ["absent.yaml does not exist"]),
]


@pytest.mark.parametrize(("argv", "words"), [pytest.param(a, w, id=i) for i, a, w in CLI_CASES])
def test_cli_bad_input_is_one_message_exit_2_no_traceback(argv, words, tmp_path, capsys):
    code = main(argv(tmp_path))
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    for w in words:
        assert w in err, (w, err)
    assert err.count("error:") <= 1, err
    assert not (tmp_path / "run").exists(), "nothing may be written before the input is checked"


def test_the_traceback_goes_to_the_error_log(tmp_path, capsys):
    assert main(_train(tmp_path, max_steps=0)) == 2
    err = capsys.readouterr().err
    log = (tmp_path / "error.log").read_text()
    assert str(tmp_path / "error.log") in err and "--debug" in err
    assert "Traceback" in log and "max_steps" in log


def _gift(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GIFT_ERROR_LOG": str(tmp / "error.log"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "gift.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_command_end_to_end_bad_method_value_exit_2_before_any_write(tmp_path):
    proc = _gift(*_train(tmp_path, method_args={"max_completion_length": -1}), tmp=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "method_args.max_completion_length: must be >= 1, got -1" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_command_end_to_end_debug_prints_the_traceback(tmp_path):
    proc = _gift("--debug", "train", "--config", str(tmp_path / "missing.yaml"), tmp=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "missing.yaml does not exist" in proc.stderr


@pytest.mark.parametrize(("key", "value", "words"), [
    ("gift_betta", 1.0, "methods.gift.args.gift_betta (did you mean gift_beta?)"),
    ("singleton", "foo", "methods.gift.args.singleton: must be one of author, pointwise, got 'foo'"),
], ids=["typo", "bad-choice"])
def test_snakemake_dry_run_names_a_bad_method_argument(tmp_path, key, value, words):
    cfg = json.loads(json.dumps(SMOKE))
    cfg["methods"]["gift"]["args"][key] = value
    path = _write_yaml(tmp_path, cfg, "workflow.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert words in proc.stderr


# ---- interruptions: a killed writer's temporary files are removed by the next writer ------------------

def test_atomic_writes_remove_what_killed_writers_on_this_host_left(tmp_path):
    import socket

    from gift.files import atomic_path

    host = "".join(c if c.isalnum() or c in "_-" else "_" for c in socket.gethostname())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".model.{host}-{dead.pid}.x1.tmp"
    live = tmp_path / f".model.{host}-{os.getppid()}.x2.tmp"  # a live writer (our parent process)
    other_host = tmp_path / f".model.elsewhere-{dead.pid}.x3.tmp"
    other_target = tmp_path / f".other.{host}-{dead.pid}.x4.tmp"
    for d in (stale, live, other_host, other_target):
        (d / "model").mkdir(parents=True)
    with atomic_path(tmp_path / "model") as tmp:
        tmp.mkdir()
        (tmp / "weights").write_text("w")
    assert (tmp_path / "model" / "weights").read_text() == "w"
    assert not stale.exists()
    assert live.exists() and other_host.exists() and other_target.exists()
    assert sorted(p.name for p in tmp_path.glob(".model.*.tmp")) == sorted([live.name, other_host.name])


# ---- rewards: hostile completions are scored 0 and counted, at a cost bounded in CPU time -------------

def _score_in_thread(f, completion: str, truth: str) -> list[float]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(f(["q"], [completion], ground_truth=[truth])))
    t.start()
    t.join()
    return out[0]


@pytest.mark.parametrize(("completion", "truth"), [
    pytest.param("\\boxed{(x+1)^{2000}}", "x^{2000}+1", id="expansion-off-main-thread"),
    pytest.param("\\boxed{2^{2^{30}}}", "4^{2^{29}}", id="power-tower-off-main-thread"),
])
def test_math_verification_past_its_cpu_limit_scores_0_and_is_counted(completion, truth, caplog):
    from gift.rewards import make_reward_function

    f = make_reward_function("math_verify", verify_cpu_s=1)
    with caplog.at_level(logging.WARNING, logger="gift.rewards"):
        assert _score_in_thread(f, completion, truth) == [0.0]
    assert f.stats()["timeouts"] == 1 and f.stats()["errors"] == 1
    assert "timed out" in caplog.text and "1 CPU-seconds" in caplog.text
    # the worker is replaced: the next completion is scored normally
    assert f(["q"], ["\\boxed{\\frac{2}{4}}"], ground_truth=["\\frac12"]) == [1.0]


def test_reward_timeouts_and_failures_are_columns_of_the_step_that_had_them(tmp_path):
    """metrics.jsonl counts per step what the reward functions counted since the previous row."""
    from types import SimpleNamespace

    from gift.rewards import make_reward_function
    from gift.run.recorder import RunRecorder

    f = make_reward_function("math_verify", verify_cpu_s=1)
    cfg = SimpleNamespace(reward="math_verify", eval_every=0)
    rec = RunRecorder(cfg, tmp_path / "metrics.jsonl", None, [], None, 8, [f], logging.getLogger("t"))
    state = SimpleNamespace(global_step=1, epoch=0.1, is_world_process_zero=True)
    # step 1: one timeout, one unparsable, two correct
    f(["q"] * 4, ["\\boxed{(x+1)^{2000}}", "no answer", "\\boxed{1/2}", "\\boxed{3}"],
      ground_truth=["x^{2000}+1", "1", "\\frac12", "3"])
    rec.on_log(None, state, None, logs={"loss": 0.5})
    # step 2: nothing bad
    f(["q"], ["\\boxed{3}"], ground_truth=["3"])
    state.global_step = 2
    rec.on_log(None, state, None, logs={"loss": 0.4})
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["reward_timeouts"] for r in rows] == [1, 0]
    assert [r["reward_error_frac"] for r in rows] == [0.25, 0.0]
    assert [r["reward_unparsed_frac"] for r in rows] == [0.25, 0.0]


def test_a_million_digit_answer_is_not_parsed_as_a_number():
    from gift.rewards import make_reward_function, normalize_number

    f = make_reward_function("gsm8k")
    assert f(["q"], ["#### " + "9" * 1_000_000], ground_truth=["5"]) == [0.0]
    assert f.stats()["unparsed"] == 1 and f.stats()["errors"] == 0
    assert normalize_number("1" * 101) is None and normalize_number("1" * 100) == "1" * 100


def test_an_overlong_boxed_answer_is_not_sent_to_math_verify():
    from gift.rewards import make_reward_function

    f = make_reward_function("math_verify")
    assert f(["q"], ["\\boxed{" + "x+" * 100_000 + "1}"], ground_truth=["1"]) == [0.0]
    assert f.stats()["timeouts"] == 0 and f.stats()["errors"] == 0


def test_a_missing_ground_truth_is_a_counted_error_not_a_crash():
    from gift.rewards import make_reward_function

    f = make_reward_function("dapo")
    assert f(["q"], ["Answer: 3"], ground_truth=[None]) == [0.0]
    assert f.stats()["errors"] == 1


# ---- judges: broken judge answers are counted errors, never a NaN preference --------------------------

def _alpaca_response(logprobs: dict) -> dict:
    top = [{"token": t, "logprob": v} for t, v in logprobs.items()]
    return {"choices": [{"message": {"content": "m"}, "logprobs": {"content": [{"top_logprobs": top}]}}]}


@pytest.mark.parametrize("logprobs", [
    pytest.param({"m": math.nan, "M": -1.0}, id="nan-logprob"),
    pytest.param({"m": -math.inf, "M": -math.inf}, id="no-finite-logprob"),
    pytest.param({"m": 3.0, "M": -1.0}, id="positive-logprob"),
])
def test_alpaca_annotation_with_broken_logprobs_is_a_counted_error(logprobs):
    from gift.evals.alpaca_eval.judges import parse_alpaca_response

    ann = parse_alpaca_response(_alpaca_response(logprobs), swapped=False)
    assert ann.preference is None
    assert "invalid log-probabilities for 'm'/'M'" in ann.error


def test_alpaca_annotation_with_finite_logprobs_is_the_probability_mass():
    from gift.evals.alpaca_eval.judges import parse_alpaca_response

    ann = parse_alpaca_response(_alpaca_response({"m": math.log(0.25), "M": math.log(0.75)}), swapped=False)
    # p(first output, the reference) = 0.25 -> model preferred with 0.75 -> preference 1.75
    assert ann.error is None and ann.preference == pytest.approx(1.75)


@pytest.mark.parametrize("judgment", ["no verdict at all", "[[C>D]]", None, 42, "[[" * 10_000])
def test_arena_verdict_from_unparsable_judge_text_is_none(judgment):
    from gift.evals.arena_hard.judges import parse_verdict

    assert parse_verdict(judgment) is None


def test_reward_model_judge_with_non_finite_scores_counts_an_error():
    from gift.evals.alpaca_eval.judges import RewardModelAlpacaJudge

    judge = RewardModelAlpacaJudge(lambda prompts, outputs: [math.nan if "bad" in o else 1.0 for o in outputs])
    out = judge.annotate(["i1", "i2"], ["ref", "ref"], ["bad", "good"], progress=False)
    assert out[0].preference is None and out[0].error == "non-finite reward score"
    assert out[1].error is None and out[1].preference == pytest.approx(1.5)
