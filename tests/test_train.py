"""`gift train`: run configs, every method end to end on a CPU, the run directory, and resume after a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gift.files import read_jsonl
from gift.run.config import RunConfig
from gift.run.train import train
from tests.policy_fixtures import SMALL_METHOD_ARGS

SMALL = SMALL_METHOD_ARGS
ROOT = Path(__file__).resolve().parents[1]


def _cfg(policy_dir, prompts, out, **over):
    cfg = {"run_id": "r", "method": "gift", "model": str(policy_dir), "train_data": str(prompts),
           "reward": "gsm8k", "output_dir": str(out), "max_steps": 2, "save_every": 2, "method_args": dict(SMALL)}
    cfg.update(over)
    return cfg


@pytest.mark.parametrize("method", ["gift", "grpo", "dapo", "gspo"])
def test_every_method_trains_on_cpu_and_writes_a_run_directory(policy_dir, prompts, tmp_path, method):
    from transformers import AutoModelForCausalLM

    # GIFT's run also evaluates a selection split (what a sweep picks its values on)
    extra = {"selection_data": str(prompts)} if method == "gift" else {}
    run = train(_cfg(policy_dir, prompts, tmp_path / method, method=method, eval_data=str(prompts),
                     eval_every=2, eval_limit=4, **extra))
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2], "step 0: the eval of the policy before training"
    assert set(rows[0]) >= {"eval_pass@1", "eval_pass@1_greedy", "eval_n"} and "loss" not in rows[0]
    rows = rows[1:]
    for key in ("loss", "reward_mean", "completion_length", "learning_rate", "step_time_s", "train_pass@1"):
        assert all(key in r for r in rows), key
    assert "eval_pass@1" in rows[1] and rows[1]["eval_n"] == 4 and 0 <= rows[1]["eval_pass@1"] <= 100
    if method == "gift":
        assert all("implicit_reward_mean" in r for r in rows)
        assert rows[1]["selection_n"] == 4 and 0 <= rows[1]["selection_pass@1"] <= 100
        assert "selection_pass@1_stderr" in rows[1]
    else:
        assert "selection_pass@1" not in rows[1]
    man = json.loads((run / "manifest.json").read_text())
    assert man["seed"] == 0 and man["method"] == method
    assert man["versions"]["torch"] and man["versions"]["trl"] and "git_commit" in man
    assert man["config"]["method_config"]["num_generations"] == 4
    assert man["rollout_engine"] == "hf" and man["sampling"]["eval"]["repetition_penalty"] == 1.0
    assert (run / "DONE").exists() and (run / "train.log").stat().st_size > 0
    AutoModelForCausalLM.from_pretrained(run / "final")


def test_finished_run_is_not_redone(policy_dir, prompts, tmp_path):
    run = train(_cfg(policy_dir, prompts, tmp_path / "done", max_steps=1))
    stamp = (run / "metrics.jsonl").stat().st_mtime_ns
    train(_cfg(policy_dir, prompts, tmp_path / "done", max_steps=1))
    assert (run / "metrics.jsonl").stat().st_mtime_ns == stamp


def test_a_run_directory_made_with_another_config_is_not_resumed(policy_dir, prompts, tmp_path, capsys):
    from gift.run.train import ConfigChangedError, cli

    out = tmp_path / "changed"
    first = train(_cfg(policy_dir, prompts, out, max_steps=1))
    old_rows = read_jsonl(first / "metrics.jsonl")
    changed = _cfg(policy_dir, prompts, out, max_steps=2, method_args={**SMALL, "learning_rate": 5e-4})
    with pytest.raises(ConfigChangedError, match=r"max_steps: 1 -> 2; method_args\.learning_rate: 0\.001 -> 0\.0005"):
        train(changed)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    assert cli(["--config", str(path)]) == 2 and "--restart" in capsys.readouterr().err
    assert read_jsonl(out / "metrics.jsonl") == old_rows, "the refused run must leave the old one untouched"

    train(changed, on_config_change="restart")
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]
    assert json.loads((out / "manifest.json").read_text())["config"]["method_config"]["learning_rate"] == 5e-4
    (kept,) = (tmp_path / ".replaced").iterdir()
    assert kept.name.startswith("changed-") and read_jsonl(kept / "metrics.jsonl") == old_rows
    # the same config again: nothing to do, nothing set aside
    train(changed, on_config_change="restart")
    assert len(list((tmp_path / ".replaced").iterdir())) == 1


def test_a_run_that_failed_before_its_first_checkpoint_starts_afresh_with_the_corrected_config(
        policy_dir, prompts, tmp_path, capsys):
    """What fails only once training starts (here: unreadable weights) fails after the manifest is written;
    the corrected rerun needs no --restart, since there is nothing to resume."""
    broken = tmp_path / "broken-model"
    shutil.copytree(policy_dir, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    out = tmp_path / "failed"
    with pytest.raises(Exception):  # noqa: B017 - whatever the loader raises; the point is what comes after
        train(_cfg(broken, prompts, out, max_steps=1))
    assert (out / "manifest.json").exists() and not list((out / "checkpoints").glob("checkpoint-*"))
    run = train(_cfg(policy_dir, prompts, out, max_steps=1))
    assert (run / "DONE").exists() and [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [1]
    assert "has no checkpoint" in capsys.readouterr().out
    (kept,) = (tmp_path / ".replaced").iterdir()
    assert json.loads((kept / "manifest.json").read_text())["config"]["run"]["model"] == str(broken)


def _gift_train(*config_paths: Path, restart: bool = False) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [a for p in config_paths for a in ("--config", str(p))] + (["--restart"] if restart else [])
    return subprocess.Popen([sys.executable, "-m", "gift.cli", "train", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)


def _kill_at_checkpoint_2(proc: subprocess.Popen, run_dir: Path, timeout: float) -> None:
    """SIGKILL the process group once `run_dir` holds checkpoint-2."""
    deadline = time.time() + timeout
    while not (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, f"no checkpoint of {run_dir.name} within the time limit"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_killed_run_resumes_to_the_same_metrics_as_an_uninterrupted_one(policy_dir, prompts, tmp_path):
    common = {"max_steps": 6, "save_every": 2, "seed": 7,
              "method_args": {**SMALL, "max_completion_length": 24, "lr_scheduler_type": "linear"}}
    reference = train(_cfg(policy_dir, prompts, tmp_path / "straight", **common))
    expected = read_jsonl(reference / "metrics.jsonl")

    out = tmp_path / "killed"
    config_path = tmp_path / "killed.yaml"
    config_path.write_text(yaml.safe_dump(_cfg(policy_dir, prompts, out, **common)))
    _kill_at_checkpoint_2(_gift_train(config_path), out, timeout=240)
    assert not (out / "DONE").exists(), "the run finished before it could be killed"

    proc = _gift_train(config_path)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-3000:]
    resumed = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in resumed] == [r["step"] for r in expected] == [1, 2, 3, 4, 5, 6]
    for got, want in zip(resumed, expected, strict=True):
        for key, value in want.items():
            if key in ("step_time_s",):
                continue
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-6), (got["step"], key)
    assert "resuming from" in (out / "train.log").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "ppo2"}, "unknown method 'ppo2'; trainable methods: gift, grpo"),
        ({"method": "ppo"}, "not trainable"),
        ({"learning_rate": 1e-6}, "unknown field(s) learning_rate"),
        ({"method": "grpo", "method_args": {"num_generations": 1}}, "num_generations must be >= 2"),
        ({"method_args": {"num_generations": 0}}, "num_generations must be >= 1"),
        ({"method_args": {"implicit_agregation": "sum"}}, "did you mean implicit_aggregation"),
        ({"reward": "bleu"}, "field 'reward' must be one of"),
        ({"reward": "reward_model"}, "field 'reward_model' is required"),
        ({"max_steps": -1}, "field 'max_steps' must be positive"),
        ({"eval_every": 5}, "field 'eval_data' is required"),
        ({"run_id": "a b"}, "field 'run_id'"),
        ({"model": None}, "missing required field(s): model"),
        ({"rollout_backend": "sglang"}, "field 'rollout_backend' must be one of auto, hf, vllm"),
        ({"rollout_batch_prompts": 8}, "must be set together"),
        ({"rollout_batch_prompts": 8, "optimizer_batch_prompts": 0}, "'optimizer_batch_prompts' must be >= 1 (or left out), got 0"),
        ({"micro_batch_prompts": 2}, "'micro_batch_prompts' needs rollout_batch_prompts"),
        ({"eval_chunk_rows": 0}, "field 'eval_chunk_rows' must be >= 1"),
        ({"rollout_chunk_rows": 0}, "field 'rollout_chunk_rows' must be >= 1"),
    ],
)
def test_bad_run_config_is_rejected_before_any_compute(change, message, tmp_path):
    cfg = _cfg("m", "d.jsonl", tmp_path / "x", **change)
    with pytest.raises(ValueError) as err:
        RunConfig.from_dict(cfg, source="run.yaml")
    assert message in str(err.value)
    assert "run.yaml" in str(err.value)
    assert not (tmp_path / "x").exists()


GLOBAL = {"rollout_batch_prompts": 8, "optimizer_batch_prompts": 2, "micro_batch_prompts": 1}
SMALL_N = {k: v for k, v in SMALL.items() if k not in ("per_device_train_batch_size", "gradient_accumulation_steps")}


def test_global_batch_sizes_are_derived_at_launch_and_recorded(policy_dir, prompts, tmp_path):
    run = train(_cfg(policy_dir, prompts, tmp_path / "global", max_steps=2, method_args=dict(SMALL_N), **GLOBAL))
    man = json.loads((run / "manifest.json").read_text())
    # 2 prompts x 4 responses per update on 1 process, one group per micro-batch: 2 micro-steps of 4 rows;
    # 8 prompts per rollout batch: 4 updates, 8 micro-steps per generation
    assert man["config"]["batch"] == {
        "source": "global batch sizes", "world_size": 1, "num_generations": 4, "rollout_batch_prompts": 8,
        "optimizer_batch_prompts": 2, "micro_batch_prompts": 1, "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 2, "steps_per_generation": 8, "updates_per_rollout_batch": 4}
    mc = man["config"]["method_config"]
    assert (mc["per_device_train_batch_size"], mc["gradient_accumulation_steps"], mc["steps_per_generation"]) == (4, 2, 8)
    assert "batch: " in (run / "train.log").read_text()


@pytest.mark.parametrize(("world", "over", "message"), [
    ("3", {}, "optimizer_batch_prompts 2 cannot be met on 3 process(es)"),
    ("1", {"method_args": {**SMALL_N, "per_device_train_batch_size": 8}},
     "method_args.per_device_train_batch_size = 8 (the global sizes give 4)"),
])
def test_a_run_whose_batch_sizes_cannot_be_met_refuses_to_start(policy_dir, prompts, tmp_path, monkeypatch, capsys,
                                                                 world, over, message):
    from gift.run.train import cli

    monkeypatch.setenv("WORLD_SIZE", world)
    cfg = _cfg(policy_dir, prompts, tmp_path / "refused", method_args=dict(SMALL_N), **GLOBAL)
    cfg.update(over)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "refused").exists()


def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("run_id: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken.yaml:\d+: not valid YAML"):
        RunConfig.from_yaml(path)


def test_row_without_prompt_is_named(policy_dir, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"id": "q1", "prompt": [{"role": "user", "content": "1+1"}]}) + "\n"
                    + json.dumps({"id": "q2", "ground_truth": "2"}) + "\n")
    with pytest.raises(ValueError, match=r"row 1 \(id 'q2'\) has no 'prompt'"):
        train(_cfg(policy_dir, data, tmp_path / "run"))


def test_unreachable_hub_model_fails_fast_with_instructions(prompts, tmp_path, monkeypatch):
    from gift.pretrained import HubUnavailableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    t0 = time.perf_counter()
    with pytest.raises(HubUnavailableError) as err:
        train(_cfg("Qwen/Qwen2.5-7B-Instruct", prompts, tmp_path / "run"))
    assert time.perf_counter() - t0 < 30
    text = str(err.value)
    assert "Qwen/Qwen2.5-7B-Instruct" in text and "--local-dir" in text and "`model: DIR`" in text


def test_rollout_backend_falls_back_to_transformers_without_vllm_or_a_gpu():
    import importlib.util

    from gift.run.train import _use_vllm

    installed = importlib.util.find_spec("vllm") is not None
    assert _use_vllm("hf", cuda=True) is False
    assert _use_vllm("auto", cuda=False) is False
    assert _use_vllm("auto", cuda=True) is installed
    if installed:  # vLLM's CPU build rolls out on a CPU when asked for by name
        assert _use_vllm("vllm", cuda=False) is True
    else:
        with pytest.raises(RuntimeError, match="vLLM is not installed"):
            _use_vllm("vllm", cuda=False)


def test_periodic_eval_generates_in_calls_of_at_most_eval_chunk_rows(policy_dir, prompts, tmp_path, monkeypatch):
    """eval_limit 5 prompts with eval_k 2: 10 sampled rows, then 5 greedy ones, in calls of at most 4 rows."""
    import inspect

    from transformers.generation.utils import GenerationMixin

    eval_calls: list[int] = []
    real = GenerationMixin.generate

    def spy(self, *args, **kwargs):
        if any(f.function == "_pass" for f in inspect.stack()[1:12]):  # the periodic eval, not a rollout
            eval_calls.append(int(kwargs["input_ids"].shape[0]))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", spy)
    train(_cfg(policy_dir, prompts, tmp_path / "run", method="grpo", max_steps=1, save_every=1,
               eval_data=str(prompts), eval_every=1, eval_limit=5, eval_k=2, eval_chunk_rows=4))
    # two evals (step 0 and step 1), each: sampled 10 rows as 4+4+2, greedy 5 rows as 4+1
    assert eval_calls == [4, 4, 2, 4, 1] * 2

    # without the greedy pass@1: only the sampled rows, and no greedy metric in the log
    eval_calls.clear()
    out = train(_cfg(policy_dir, prompts, tmp_path / "no-greedy", method="grpo", max_steps=1, save_every=1,
                     eval_data=str(prompts), eval_every=1, eval_limit=5, eval_k=2, eval_chunk_rows=4,
                     eval_greedy=False))
    assert eval_calls == [4, 4, 2] * 2
    evals = [r for r in read_jsonl(out / "metrics.jsonl") if "eval_pass@1" in r]
    assert len(evals) == 2 and not any("eval_pass@1_greedy" in r for r in evals)


def test_a_field_added_later_at_its_default_does_not_stop_a_resume(policy_dir, prompts, tmp_path):
    """A run started before a run-config field existed resumes while the field keeps its default; a value other
    than the default is a change."""
    from gift.run.train import ConfigChangedError

    out = tmp_path / "older"
    train(_cfg(policy_dir, prompts, out, max_steps=1))
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["config"]["run"]["eval_greedy"]  # as a manifest written before the field existed
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "DONE").unlink()
    stamp = (out / "metrics.jsonl").stat().st_mtime_ns
    with pytest.raises(ConfigChangedError, match=r"eval_greedy: None -> False"):
        train(_cfg(policy_dir, prompts, out, max_steps=1, eval_greedy=False))
    train(_cfg(policy_dir, prompts, out, max_steps=1))  # the default: the same run, finished from its checkpoint
    assert (out / "DONE").exists() and (out / "metrics.jsonl").stat().st_mtime_ns >= stamp
    assert not (tmp_path / ".replaced").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_killed_while_saving_final_resumes_to_the_same_metrics_and_weights(policy_dir, prompts, tmp_path):
    """A kill during the final save leaves the last checkpoint, all metrics, a half-written temporary
    final/ and no DONE; the rerun must neither train again (an extra step at learning rate 0) nor keep debris."""
    import shutil
    import socket

    from safetensors.torch import load_file

    common = {"max_steps": 3, "save_every": 2, "seed": 3}
    out = train(_cfg(policy_dir, prompts, tmp_path / "run", **common))
    expected_rows = read_jsonl(out / "metrics.jsonl")
    expected_done = (out / "DONE").read_text()
    want = load_file(out / "final" / "model.safetensors")
    (out / "DONE").unlink()
    shutil.rmtree(out / "final")
    host = "".join(c if c.isalnum() or c in "_-" else "_" for c in socket.gethostname())
    debris = out / f".final.{host}-{_dead_pid()}.abc123.tmp"
    (debris / "final").mkdir(parents=True)
    (debris / "final" / "config.json").write_text("{")
    assert (out / "checkpoints" / "checkpoint-3").is_dir(), "the Trainer saves a checkpoint at the last step"

    train(_cfg(policy_dir, prompts, out, **common))
    assert read_jsonl(out / "metrics.jsonl") == expected_rows and [r["step"] for r in expected_rows] == [1, 2, 3]
    assert (out / "DONE").read_text() == expected_done == "r finished at step 3\n"
    got = load_file(out / "final" / "model.safetensors")
    assert want.keys() == got.keys() and all(bool((want[k] == got[k]).all()) for k in want)
    assert not list(out.glob(".*.tmp")), "a killed save's temporary directory must be cleaned up"
    assert "the last checkpoint is the final step" in (out / "train.log").read_text()


# Loaded by the child interpreter (as sitecustomize, first on its path): the process SIGKILLs itself at the
# moment it would rename something into the name in GIFT_TEST_KILL_AT, a real kill at an exact point of the save.
_KILL_AT_RENAME = """
import os, signal
_at = os.environ.get("GIFT_TEST_KILL_AT")
def _killing(rename):
    def wrapped(src, dst, *args, **kwargs):
        if _at and os.path.basename(os.fspath(dst)) == _at:
            os.kill(os.getpid(), signal.SIGKILL)
        return rename(src, dst, *args, **kwargs)
    return wrapped
os.rename, os.replace = _killing(os.rename), _killing(os.replace)
"""


@pytest.mark.parametrize("moment", ["final", "DONE"], ids=["before-final-rename", "before-DONE"])
def test_run_sigkilled_during_its_final_save_resumes_to_the_uninterrupted_run(policy_dir, prompts, tmp_path, moment):
    """SIGKILL with the final weights written but not yet renamed into final/, or with final/ in place and no
    DONE: the rerun gives the uninterrupted run's metrics, DONE and weights, and leaves no temporary debris."""
    from safetensors.torch import load_file

    common = {"max_steps": 3, "save_every": 2, "seed": 3}
    straight = train(_cfg(policy_dir, prompts, tmp_path / "straight", **common))

    out = tmp_path / "killed"
    config_path = tmp_path / "killed.yaml"
    config_path.write_text(yaml.safe_dump(_cfg(policy_dir, prompts, out, **common)))
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_KILL_AT_RENAME)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GIFT_TEST_KILL_AT": moment,
           "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "gift.cli", "train", "--config", str(config_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (out / "DONE").exists()
    assert (out / ".final.tmp").is_dir() == (moment == "final"), "the kill came at the moment asked for"

    resumed = subprocess.run([sys.executable, "-m", "gift.cli", "train", "--config", str(config_path)],
                             env={**env, "GIFT_TEST_KILL_AT": ""}, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    untimed = [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in read_jsonl(straight / "metrics.jsonl")]
    assert [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in read_jsonl(out / "metrics.jsonl")] == untimed
    assert [r["step"] for r in untimed] == [1, 2, 3]
    assert (out / "DONE").read_text() == (straight / "DONE").read_text()
    want, got = load_file(straight / "final" / "model.safetensors"), load_file(out / "final" / "model.safetensors")
    assert want.keys() == got.keys() and all(bool((want[k] == got[k]).all()) for k in want)
    assert not [p.name for p in out.rglob("*.tmp")], "no temporary directory may outlive the resumed run"


def test_bad_method_value_fails_before_the_run_directory_exists(policy_dir, prompts, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(policy_dir, prompts, out, method_args={**SMALL, "max_completion_length": -1})
    with pytest.raises(ValueError, match=r"method_args\.max_completion_length: must be >= 1, got -1"):
        train(cfg)
    assert not out.exists(), "nothing may be written before every field is checked"


def _train_process(*config_paths: Path, restart: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [a for p in config_paths for a in ("--config", str(p))] + (["--restart"] if restart else [])
    return subprocess.run([sys.executable, "-m", "gift.cli", "train", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in rows]


def test_runs_trained_in_turn_by_one_process_equal_the_runs_alone_and_a_failure_stops_none(
        policy_dir, prompts, tmp_path):
    """Several --config in one `gift train`: a bf16 run first (accelerate's process-wide state must not carry
    over), a run that fails (its directory holds another config's run), then a GIFT run whose metrics must be
    those of the same run trained alone in its own process."""
    common = {"max_steps": 2, "save_every": 2, "seed": 3, "eval_data": str(prompts), "eval_every": 2,
              "eval_limit": 4}
    gift_run = _cfg(policy_dir, prompts, tmp_path / "alone", run_id="g", **common)
    path = tmp_path / "alone.yaml"
    path.write_text(yaml.safe_dump(gift_run))
    assert _train_process(path).returncode == 0
    alone = read_jsonl(tmp_path / "alone" / "metrics.jsonl")

    clash = _cfg(policy_dir, prompts, tmp_path / "clash", run_id="c", max_steps=1)
    train(clash)
    configs = {
        "bf16": _cfg(policy_dir, prompts, tmp_path / "bf16", run_id="b", method="grpo", max_steps=1,
                     method_args={**SMALL, "bf16": True}),
        "clash": {**clash, "max_steps": 2},
        "gift": {**gift_run, "output_dir": str(tmp_path / "grouped")},
    }
    paths = []
    for name, cfg in configs.items():
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(yaml.safe_dump(cfg))
    proc = _train_process(*paths)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "1 of 3 runs failed: c" in proc.stderr and "--restart" in proc.stderr
    assert (tmp_path / "bf16" / "DONE").exists() and (tmp_path / "grouped" / "DONE").exists()
    assert [r["step"] for r in read_jsonl(tmp_path / "clash" / "metrics.jsonl")] == [1], "the clash left untouched"
    assert _untimed(read_jsonl(tmp_path / "grouped" / "metrics.jsonl")) == _untimed(alone)
    # each run's train.log holds its own records only
    first_log = (tmp_path / "bf16" / "train.log").read_text()
    grouped_log = (tmp_path / "grouped" / "train.log").read_text()
    assert "training b (" in first_log and "training g (" not in first_log
    assert "training g (" in grouped_log and "training b (" not in grouped_log


def test_a_finished_run_leaves_no_handler_on_its_train_log(policy_dir, prompts, tmp_path):
    """The libraries' loggers write to the running run's train.log; once the run ends, nothing may write there
    (the next run of the same process would log into it)."""
    import logging

    run = train(_cfg(policy_dir, prompts, tmp_path / "r", max_steps=1))
    log = str((run / "train.log").resolve())
    for name in ("", "transformers", "trl", "gift.rewards", "gift.run.train.r"):
        paths = [h.baseFilename for h in logging.getLogger(name).handlers if isinstance(h, logging.FileHandler)]
        assert log not in paths, name


def test_a_killed_job_of_two_runs_skips_the_finished_run_and_resumes_the_other(policy_dir, prompts, tmp_path):
    common = {"max_steps": 6, "save_every": 2, "seed": 5,
              "method_args": {**SMALL, "max_completion_length": 24}}
    paths = []
    for name in ("first", "second"):
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(yaml.safe_dump(_cfg(policy_dir, prompts, tmp_path / name, run_id=name, **common)))
    second = tmp_path / "second"
    _kill_at_checkpoint_2(_gift_train(*paths, restart=True), second, timeout=400)
    assert (tmp_path / "first" / "DONE").exists() and not (second / "DONE").exists()
    stamp = (tmp_path / "first" / "metrics.jsonl").stat().st_mtime_ns

    again = _train_process(*paths, restart=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "first" / "metrics.jsonl").stat().st_mtime_ns == stamp, "the finished run was redone"
    assert [r["step"] for r in read_jsonl(second / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert "resuming from" in (second / "train.log").read_text()
    assert not (tmp_path / ".replaced").exists()


def test_the_authors_schedule_and_cadence_in_rollout_batches(policy_dir, prompts, tmp_path):
    """verl's actor optimiser (constant rate, weight decay 0.01) and its cadence: eval_every and save_every count
    rollout batches (4 updates each here), the eval also runs after the last update, and every row says which
    rollout batch and which update within it it is."""
    import torch

    args = {**SMALL_N, "lr_scheduler_type": "constant", "warmup_steps": 0, "weight_decay": 0.01}
    run = train(_cfg(policy_dir, prompts, tmp_path / "verl", max_steps=10, method_args=args, cadence_unit="rollout_batch",
                     eval_every=2, save_every=1, save_total_limit=None, eval_data=str(prompts), eval_limit=3,
                     eval_k=2, **GLOBAL))
    rows = read_jsonl(run / "metrics.jsonl")
    steps = [r for r in rows if r["step"] > 0]
    assert [r["learning_rate"] for r in steps] == [1e-3] * 10  # TRL's default would decay it linearly to 0
    assert [r["update_in_batch"] for r in steps] == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    assert [r["rollout_batch"] for r in steps] == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    # evals: before training, after rollout batch 2 (update 8) and after the last update (10)
    evals = [r for r in rows if "eval_pass@1" in r]
    assert [r["step"] for r in evals] == [0, 8, 10]
    for r in evals:  # the headline is greedy (verl's validation); the sampled mean@2 and pass@2 beside it
        assert r["eval_pass@1"] == r["eval_pass@1_greedy"] and r["eval_k"] == 2 and r["eval_temperature"] == 1.0
        assert 0 <= r["eval_mean@k"] <= r["eval_pass@k"] <= 100
    # a checkpoint after every rollout batch (4 updates), and the last update's
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-10", "checkpoint-4", "checkpoint-8"]
    groups = torch.load(run / "checkpoints" / "checkpoint-4" / "optimizer.pt", weights_only=False)["param_groups"]
    assert {g["weight_decay"] for g in groups} == {0.01, 0.0}  # transformers exempts biases and norms


def test_per_update_diagnostics_by_index_within_the_rollout_batch(policy_dir, prompts, tmp_path):
    """GIFT against the sampling policy: at update 1 of each rollout batch the implicit reward is 0 (its group
    spread too) and the detached z-score's gradient is 1/eps times a REINFORCE direction, far above the clip;
    at updates 2-4 the spread is the policy's movement. Without clipping the same norms are logged, none clipped."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gift.run.recorder import RunRecorder
    from gift.trainers import GIFTConfig, GIFTTrainer
    from tests.policy_fixtures import length_reward

    def run(name, max_grad_norm):
        out = tmp_path / name
        out.mkdir()
        cfg = RunConfig.from_dict(_cfg(policy_dir, prompts, out, max_steps=8))
        args = GIFTConfig(output_dir=str(out / "ckpt"), num_generations=4, per_device_train_batch_size=4,
                          gradient_accumulation_steps=1, steps_per_generation=4, max_completion_length=6, max_steps=8,
                          learning_rate=5e-3, logging_steps=1, report_to="none", use_cpu=True, bf16=False,
                          gradient_checkpointing=False, save_strategy="no", implicit_reference="rollout",
                          max_grad_norm=max_grad_norm, seed=1)
        recorder = RunRecorder(cfg, out / "metrics.jsonl", None, [], None, 6, [], __import__("logging").getLogger(),
                               updates_per_rollout_batch=4)
        trainer = GIFTTrainer(model=AutoModelForCausalLM.from_pretrained(policy_dir), reward_funcs=[length_reward],
                              args=args, train_dataset=Dataset.from_list(read_jsonl(prompts)),
                              processing_class=AutoTokenizer.from_pretrained(policy_dir), callbacks=[recorder])
        trainer.train()
        return read_jsonl(out / "metrics.jsonl")

    rows = run("clip", 1.0)
    assert [r["update_in_batch"] for r in rows] == [1, 2, 3, 4] * 2
    first, later = [r for r in rows if r["update_in_batch"] == 1], [r for r in rows if r["update_in_batch"] > 1]
    assert all(r["implicit_reward_group_std"] < 1e-6 for r in first), [r["implicit_reward_group_std"] for r in rows]
    assert all(r["implicit_reward_group_std"] > 1e-4 for r in later)
    assert all(r["grad_norm"] > 1e3 and r["clipped"] is True for r in first)  # 1/eps = 1e6 scale, then clipped
    assert all(r["clipped"] == (r["grad_norm"] > 1.0) for r in rows)
    # the correlation is logged where a group has a spread in both rewards: never at update 1, at some later one
    assert not any("implicit_explicit_corr" in r for r in first)
    corr = [r["implicit_explicit_corr"] for r in later if "implicit_explicit_corr" in r]
    assert corr and all(-1.0 <= c <= 1.0 for c in corr)
    unclipped = run("no-clip", 0.0)
    assert [r["update_in_batch"] for r in unclipped] == [1, 2, 3, 4] * 2
    assert not any(r["clipped"] for r in unclipped) and all(r["grad_norm"] > 0 for r in unclipped)
    assert unclipped[0]["grad_norm"] == pytest.approx(rows[0]["grad_norm"], rel=1e-4)  # the same first update
