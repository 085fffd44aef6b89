"""The evaluation step scripts (evals/*.py): one per eval kind and one for a grouped job, each the `gift eval`
command the workflow ran before them, and the dry-run comparison tool the workflow's refactors are checked with."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gift.grid.runs import EVAL_KINDS

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
# the script of each `gift eval` command (the workflow's rule eval runs evals/<kind>.py)
SCRIPTS = {"rlvr": "rlvr", "lm_eval": "lm-eval", "alpaca_eval": "alpaca", "arena_hard": "arena-hard",
           "eval_job": "many"}


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def test_every_eval_kind_and_the_grouped_job_have_a_script_and_nothing_else_does():
    assert set(EVAL_KINDS) | {"eval_job"} == set(SCRIPTS)
    assert sorted(p.stem for p in (ROOT / "evals").glob("*.py")) == sorted(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_script_is_its_gift_eval_command(script):
    # the same parser, options and help as `gift eval WORD`
    ran = _run(f"evals/{script}.py", "--help")
    cli = _run("-m", "gift.cli", "eval", SCRIPTS[script], "--help")
    assert ran.returncode == cli.returncode == 0, ran.stderr + cli.stderr
    assert ran.stdout == cli.stdout and f"usage: gift eval {SCRIPTS[script]} " in ran.stdout


def test_a_bad_argument_is_one_message_and_exit_2_as_from_gift_eval(tmp_path):
    ran = _run(str(ROOT / "evals" / "rlvr.py"), "--model", str(tmp_path / "missing"), "--data",
               str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out.json"), cwd=tmp_path)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.startswith("gift eval rlvr: error: ") and "Traceback" not in ran.stderr
    assert not (tmp_path / "out.json").exists()


def test_the_scripts_folder_does_not_stand_in_for_the_packages_of_the_same_names(tmp_path):
    # evals/lm_eval.py and evals/alpaca_eval.py share their names with the lm_eval and alpaca_eval packages:
    # `python evals/lm_eval.py` puts evals/ first on the import path, where `import lm_eval` would find the script
    script = tmp_path / "lm_eval.py"
    script.write_text(
        "import importlib.util, sys\n"
        "import gift.cli\n"
        "gift.cli.main = lambda argv: print(importlib.util.find_spec('lm_eval').origin) or 0\n"
        "sys.exit(gift.cli.step_main(__file__, ['eval', 'lm-eval'], sys.argv[1:]))\n")
    ran = _run(str(script))
    assert ran.returncode == 0, ran.stderr
    origin = Path(ran.stdout.strip())
    assert origin.name == "__init__.py" and origin.parent.name == "lm_eval", origin


# ---- tests/scripts/compare_dryruns.py --------------------------------------------------------------------


def _compare_tool():
    spec = importlib.util.spec_from_file_location("compare_dryruns", ROOT / "tests" / "scripts" / "compare_dryruns.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DRY_RUN = """Building DAG of jobs...
Job stats:
job      count
-----  -------
{rule}       1

[Mon Dec  7 18:06:18 2026]
rule {rule}:
    input: results/s/runs/a.done, results/s/data/math
    output: results/s/evals/a/rlvr_math.json
    log: results/s/logs/evals/a/rlvr_math.log
    jobid: {jobid}
    wildcards: {wildcards}
    resources: tmpdir=/tmp, cpus_per_task=1, runtime=60, nodes=1, gpu={gpu}, mem_mb=4000, mem=4 GB
Shell command: OMP_NUM_THREADS=1 "$GIFT_PYTHON" {program} --model results/s/runs/a/final --k 4 > log 2>&1

"""


def _dry(rule="eval_rlvr", jobid=7, wildcards="model_id=a, dataset=math", gpu=0,
         program="-m gift.cli eval rlvr") -> str:
    return DRY_RUN.format(rule=rule, jobid=jobid, wildcards=wildcards, gpu=gpu, program=program)


def test_the_comparison_ignores_rule_names_job_ids_and_wildcards_but_not_what_a_job_does():
    tool = _compare_tool()
    before = tool.parse(_dry(), tool.eval_rewrites())
    renamed = tool.parse(_dry(rule="eval", jobid=3, wildcards="model_id=a, eval=rlvr_math", program="evals/rlvr.py"))
    assert tool.compare(before, renamed) == []
    # without the program-path rewrite, the new command is a difference
    assert len(tool.compare(tool.parse(_dry()), renamed)) == 1
    more_gpus = tool.parse(_dry(rule="eval", gpu=1, program="evals/rlvr.py"))
    assert tool.compare(before, more_gpus) == ["results/s/evals/a/rlvr_math.json: resources: gpu: 0 -> 1"]
    other_input = tool.parse(_dry().replace("data/math", "data/gsm8k"), tool.eval_rewrites())
    (diff,) = tool.compare(before, other_input)
    assert "input: removed ['results/s/data/math'], added ['results/s/data/gsm8k']" in diff
