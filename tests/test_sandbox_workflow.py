"""Without full sandbox isolation the workflow stops at its start, before any job, unless the config accepts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _snakemake(config: Path, *args: str) -> subprocess.CompletedProcess:
    # GIFT_SANDBOX_MODES=fallback makes this host look like one without user namespaces.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GIFT_SANDBOX_MODES": "fallback",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("GIFT_SANDBOX_ON_MISSING", None)
    return subprocess.run([sys.executable, "-m", "snakemake", "--nolock", "--configfile", str(config), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_workflow_refuses_before_any_job_then_runs_when_weaker_containment_is_accepted(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg["name"] = "sandbox-refusal-test"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = _snakemake(config, "--cores", "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "cannot get full isolation" in out and "mode fallback" in out and "pid_namespace" in out
    assert "user namespaces are enabled" in out and "sandbox: {on_missing: warn}" in out
    assert not (ROOT / "results" / "sandbox-refusal-test").exists(), "a job ran"

    cfg["sandbox"] = {"on_missing": "warn"}
    config.write_text(yaml.safe_dump(cfg))
    proc = _snakemake(config, "--dry-run", "--quiet", "rules")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "eval_job" in proc.stdout  # smoke's evaluations, lm-eval's among them, 4 to a job
