"""Experiment tracking and progress of `gift train`: report_to from the run config, train.log's progress lines
with steps, rate and time left, and samples of rollout completions every K steps."""

from __future__ import annotations

import json
import re

import pytest

from gift.errors import UserError
from gift.run.config import RunConfig
from gift.run.recorder import progress
from gift.run.train import _trackers, train
from tests.policy_fixtures import SMALL_METHOD_ARGS


def _cfg(policy_dir, prompts, out, **over):
    cfg = {"run_id": "r", "method": "grpo", "model": str(policy_dir), "train_data": str(prompts),
           "reward": "gsm8k", "output_dir": str(out), "max_steps": 2, "save_every": 2,
           "method_args": dict(SMALL_METHOD_ARGS)}
    cfg.update(over)
    return cfg


def _run(tmp_path, **over) -> RunConfig:
    base = {"run_id": "r", "method": "grpo", "model": "m", "train_data": "t.jsonl", "reward": "gsm8k",
            "output_dir": str(tmp_path / "run"), "max_steps": 2}
    return RunConfig.from_dict({**base, **over})


def test_progress_line_counts_steps_rate_and_time_left():
    # 10 steps trained in 250 s since step 5: 25 s/step, 185 steps left = 4625 s = 77 min
    assert progress(15, 200, (1000.0, 5), now=1250.0) == "step 15/200 (8%), 25 s/step, 1 h 17 min left"
    assert progress(3, 200, None) == "step 3/200 (2%)"
    assert progress(200, 200, (0.0, 0), now=400.0) == "step 200/200 (100%), 2 s/step"


def test_report_to_defaults_to_none_and_a_missing_tracker_is_an_error_not_a_skip(tmp_path, monkeypatch):
    assert _trackers(_run(tmp_path), tmp_path) == ["none"]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in
                        ("wandb", "tensorboard", "tensorboardX") else real(name, *a))
    with pytest.raises(UserError, match="pip install wandb"):
        _trackers(_run(tmp_path, report_to="wandb"), tmp_path)
    with pytest.raises(UserError, match="pip install tensorboard"):
        _trackers(_run(tmp_path, report_to="tensorboard"), tmp_path)


def test_tensorboard_writes_under_the_run_directory(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "tensorboard"
                        else real(name, *a))
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    assert _trackers(_run(tmp_path, report_to="tensorboard"), tmp_path / "run") == ["tensorboard"]
    import os

    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "run" / "tensorboard")


@pytest.mark.parametrize(("over", "message"), [
    ({"report_to": "mlflow"}, "report_to"),
    ({"report_to": "none,wandb"}, "report_to"),
    ({"method_args": {"report_to": "wandb"}}, "training.report_to"),
    ({"log_samples_every": -1}, "log_samples_every"),
])
def test_tracking_fields_are_checked_and_method_args_cannot_set_report_to(tmp_path, over, message):
    with pytest.raises(UserError, match=re.escape(message)):
        _run(tmp_path, **over)


def test_train_log_has_progress_and_samples_every_k_steps(policy_dir, prompts, tmp_path):
    run = train(_cfg(policy_dir, prompts, tmp_path / "run", max_steps=3, save_every=3, log_samples_every=2))
    log = (run / "train.log").read_text()
    assert re.search(r"step 1/3 \(33%\)", log) and re.search(r"step 3/3 \(100%\), [\d.]+ s/step", log)
    assert re.search(r"step 2/3 \(67%\), [\d.]+ s/step, \d+ s left", log)
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 2], "two samples at step 2 only (every 2 steps, 3 steps)"
    assert all(isinstance(r["completion"], str) and r["rewards"] for r in rows)
    assert "sample 1, rewards" in log
