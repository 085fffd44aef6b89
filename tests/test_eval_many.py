"""`gift eval many`: several evaluations in one process give what each gives alone, fail alone, and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gift.cli import main
from gift.grid.eval_jobs import run_job
from tests.test_judges import build_tiny_reward_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "rm")


def rlvr_argv(model, data, out, limit=3):
    return ["rlvr", "--model", str(model), "--model-id", Path(out).parent.name, "--data", str(data),
            "--out", str(out), "--k", "2", "--max-new-tokens", "6", "--limit", str(limit)]


def write_job(path: Path, argvs: list[list[str]]) -> Path:
    evals = []
    for argv in argvs:
        out = Path(argv[argv.index("--out") + 1])
        evals.append({"model_id": out.parent.name, "eval": out.stem, "argv": argv, "out": str(out),
                      "log": str(out.parent / f"{out.stem}.stdout.log")})
    path.write_text(json.dumps({"job_id": path.stem, "evals": evals}))
    return path


def metrics(path) -> dict:
    return {k: v["value"] for k, v in json.loads(Path(path).read_text())["metrics"].items()}


def test_each_evaluation_of_a_job_gets_what_it_gets_in_a_process_of_its_own(tiny_model_dir, synthetic_data,
                                                                              tiny_rm, tmp_path):
    evals = tmp_path / "evals" / "tiny"
    alpaca = ["alpaca", "--model", str(tiny_model_dir), "--model-id", "tiny", "--instructions", "synthetic:8:0",
              "--judge", f"reward-model:{tiny_rm}", "--out", str(evals / "alpaca_eval.json"), "--limit", "8",
              "--max-new-tokens", "8"]
    argvs = [rlvr_argv(tiny_model_dir, synthetic_data["gsm8k"] / "test.jsonl", evals / "rlvr_gsm8k.json"),
             alpaca,
             rlvr_argv(tiny_model_dir, synthetic_data["aime2024"] / "test.jsonl", evals / "rlvr_aime2024.json")]
    lines = []
    assert run_job(write_job(tmp_path / "job.json", argvs), echo=lines.append) == 0
    assert lines[-1].startswith("3 of 3 evaluations done")
    # The later evaluations, run alone in fresh interpreters, give the same numbers and samples.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for argv in argvs[1:]:
        out = Path(argv[argv.index("--out") + 1])
        alone = tmp_path / "alone" / "tiny" / out.name
        solo = list(argv)
        solo[solo.index("--out") + 1] = str(alone)
        proc = subprocess.run([sys.executable, "-m", "gift.cli", "eval", *solo], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert metrics(alone) == metrics(out)
    together = [json.loads(line)["completions"] for line in
                (evals / "rlvr_aime2024.samples.jsonl").read_text().splitlines()]
    alone = [json.loads(line)["completions"] for line in
             (tmp_path / "alone" / "tiny" / "rlvr_aime2024.samples.jsonl").read_text().splitlines()]
    assert together == alone
    # Each evaluation's provenance is its own command, not the job's.
    assert json.loads((evals / "alpaca_eval.json").read_text())["provenance"]["argv"] == ["gift", "eval", *alpaca]


def test_a_failing_evaluation_is_counted_and_the_others_still_run(tiny_model_dir, synthetic_data, tmp_path):
    data = synthetic_data["gsm8k"] / "test.jsonl"
    good1 = rlvr_argv(tiny_model_dir, data, tmp_path / "a" / "rlvr_gsm8k.json", limit=2)
    missing = rlvr_argv(tmp_path / "no-such-model", data, tmp_path / "b" / "rlvr_gsm8k.json")
    bad_flag = rlvr_argv(tiny_model_dir, data, tmp_path / "c" / "rlvr_gsm8k.json") + ["--k", "two"]
    good2 = rlvr_argv(tiny_model_dir, data, tmp_path / "d" / "rlvr_gsm8k.json", limit=2)
    lines = []
    assert run_job(write_job(tmp_path / "job.json", [good1, missing, bad_flag, good2]), echo=lines.append) == 1
    assert (tmp_path / "a" / "rlvr_gsm8k.json").is_file() and (tmp_path / "d" / "rlvr_gsm8k.json").is_file()
    assert not (tmp_path / "b" / "rlvr_gsm8k.json").exists() and not (tmp_path / "c" / "rlvr_gsm8k.json").exists()
    assert "2 of 4 evaluations done" in lines[-2] and lines[-1].startswith("2 failed")
    assert [line.split(":")[1].split()[0] for line in lines[:4]] == ["done", "FAILED", "FAILED", "done"]
    # Each evaluation's own output and errors are in its own log, not the job's.
    assert "not a directory" in (tmp_path / "b" / "rlvr_gsm8k.stdout.log").read_text()
    assert "invalid int value: 'two'" in (tmp_path / "c" / "rlvr_gsm8k.stdout.log").read_text()
    assert "not a directory" not in (tmp_path / "a" / "rlvr_gsm8k.stdout.log").read_text()
    assert not any("not a directory" in line for line in lines)


def test_a_rerun_skips_finished_evaluations_and_redoes_changed_or_missing_ones(tiny_model_dir, synthetic_data,
                                                                              tmp_path, monkeypatch):
    import gift.grid.eval_jobs as many

    data = synthetic_data["gsm8k"] / "test.jsonl"
    a = rlvr_argv(tiny_model_dir, data, tmp_path / "a" / "rlvr_gsm8k.json", limit=2)
    b = rlvr_argv(tiny_model_dir, data, tmp_path / "b" / "rlvr_gsm8k.json", limit=2)
    ran: list[str] = []
    real = many._run_one

    def spy(argv):
        ran.append(Path(argv[argv.index("--out") + 1]).parent.name)
        if os.environ.get("KILL_AT") == ran[-1]:
            raise KeyboardInterrupt  # the job killed while it runs this evaluation
        return real(argv)

    monkeypatch.setattr(many, "_run_one", spy)
    job = write_job(tmp_path / "job.json", [a, b])
    monkeypatch.setenv("KILL_AT", "b")
    with pytest.raises(KeyboardInterrupt):
        run_job(job, echo=lambda line: None)
    monkeypatch.delenv("KILL_AT")
    assert (tmp_path / "a" / "rlvr_gsm8k.json").is_file() and not (tmp_path / "b" / "rlvr_gsm8k.json").exists()

    ran.clear()
    assert run_job(job, echo=lambda line: None) == 0 and ran == ["b"]  # started again: only what was left
    ran.clear()
    assert run_job(job, echo=lambda line: None) == 0 and ran == []  # nothing left to do
    b_changed = rlvr_argv(tiny_model_dir, data, tmp_path / "b" / "rlvr_gsm8k.json", limit=3)
    job = write_job(tmp_path / "job.json", [a, b_changed])
    ran.clear()
    assert run_job(job, echo=lambda line: None) == 0 and ran == ["b"]  # its arguments changed
    assert json.loads((tmp_path / "b" / "rlvr_gsm8k.json").read_text())["metrics"]["pass@1"]["n"] == 3
    (tmp_path / "a" / "rlvr_gsm8k.json").unlink()
    ran.clear()
    assert run_job(job, echo=lambda line: None) == 0 and ran == ["a"]  # its result is gone


def test_each_log_gets_its_evaluations_output_even_through_a_handler_an_earlier_one_made(tmp_path):
    """In a fresh interpreter (as the workflow runs a job): a logging handler that the first evaluation makes on
    sys.stderr writes into the second evaluation's log, not into the first's closed file; prints, child
    processes and raw descriptor writes land in the log of the evaluation that makes them."""
    script = """
import logging, os, subprocess, sys
from pathlib import Path
from gift.grid.eval_jobs import _fd_streams, _output_to
streams = _fd_streams()
log = logging.getLogger("made-by-the-first")
with _output_to(Path(sys.argv[1]), streams):
    log.addHandler(logging.StreamHandler())
    log.warning("first warning")
    print("first print")
with _output_to(Path(sys.argv[2]), streams):
    log.warning("second warning")
    print("second print")
    subprocess.run(["echo", "second child"], check=True)
    os.write(2, b"second raw\\n")
print("after the job")
"""
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", script, str(first), str(second)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    one, two = first.read_text(), second.read_text()
    assert "first warning" in one and "first print" in one and "second" not in one
    assert all(line in two for line in ("second warning", "second print", "second child", "second raw")), two
    assert "first" not in two
    assert "Logging error" not in one + two + proc.stderr
    assert proc.stdout.strip() == "after the job"


@pytest.mark.parametrize(("content", "named"), [
    ("[1, 2]", "not an eval job file"),
    ('{"evals": [{"out": "o", "log": "l"}]}', r"evals\[0\]: missing `argv`"),
    ('{"evals": [{"argv": ["train", "--config", "x"], "out": "o", "log": "l"}]}', r"evals\[0\]\.argv: 'train'"),
    ('{"evals": [{"argv": ["many", "--job", "x"], "out": "o", "log": "l"}]}', r"evals\[0\]\.argv: 'many'"),
    ("{not json", "job.json"),
])
def test_a_malformed_job_file_is_one_message_naming_the_field(tmp_path, capsys, content, named):
    import re

    (tmp_path / "job.json").write_text(content)
    assert main(["eval", "many", "--job", str(tmp_path / "job.json")]) == 2
    err = capsys.readouterr().err
    assert re.search(named, err) and "Traceback" not in err
