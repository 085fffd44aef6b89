"""AlpacaEval 2: alpaca_eval's own metrics run offline, checked against independent computations; the CLI."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gift.evals import judge_client
from gift.evals.alpaca_eval import evaluate as alpaca
from gift.evals.alpaca_eval import judges as alpaca_judges
from tests.test_judges import build_tiny_reward_model


def _table(n: int, seed: int, intercept: float, slope: float):
    """Annotations whose soft preference is exactly sigmoid(intercept + slope * tanh(std length diff))."""
    rows, _ = alpaca.load_instructions(f"synthetic:{n}:{seed}")
    rng = np.random.default_rng(seed)
    extra = rng.integers(0, 40, n)
    outs = [r["output"] + " pad" * int(k) for r, k in zip(rows, extra, strict=True)]
    delta = pd.Series([len(r["output"]) - len(o) for r, o in zip(rows, outs, strict=True)], dtype=float)
    z = np.tanh(delta / delta.std())
    p_model = 1 / (1 + np.exp(-(intercept + slope * z)))
    return rows, outs, alpaca.annotations_table(rows, outs, list(1 + p_model), "m", "test"), z, p_model


def test_win_rate_and_its_standard_error_match_a_hand_computation(tmp_path):
    rows, outs, table, _, p_model = _table(200, 1, 0.3, 0.0)
    alpaca.synthetic_df_gamed(200).to_csv(tmp_path / "g.csv", index=False)
    m = alpaca.alpaca_metrics(table, tmp_path / "g.csv", "length_controlled_noreg")
    assert m["win_rate"] == pytest.approx(100 * p_model.mean())
    assert m["standard_error"] == pytest.approx(100 * p_model.std(ddof=1) / math.sqrt(len(p_model)))
    assert m["n_total"] == 200


def test_lc_win_rate_recovers_the_planted_glm_and_matches_an_independent_fit(tmp_path):
    from sklearn.linear_model import LogisticRegression

    intercept, slope = 0.8, -1.5  # longer model outputs (negative delta) are preferred
    rows, outs, table, z, p_model = _table(400, 2, intercept, slope)
    alpaca.synthetic_df_gamed(400).to_csv(tmp_path / "g.csv", index=False)
    m = alpaca.alpaca_metrics(table, tmp_path / "g.csv", "length_controlled_noreg")
    truth = 100 / (1 + math.exp(-intercept))
    # closed form: soft labels equal to the model's probabilities are fitted exactly by the GLM
    assert m["length_controlled_winrate"] == pytest.approx(truth, abs=1.0)
    # independent fit: unpenalised logistic regression on duplicated soft labels
    x = np.column_stack([z, np.ones_like(z)])
    xx = np.vstack([x, x])
    yy = np.r_[np.ones(len(z)), np.zeros(len(z))]
    w = np.r_[p_model, 1 - p_model]
    lr = LogisticRegression(C=np.inf, fit_intercept=False, max_iter=1000).fit(xx, yy, sample_weight=w)
    assert m["length_controlled_winrate"] == pytest.approx(100 / (1 + math.exp(-lr.coef_[0][1])), abs=1.0)
    # the plain win rate is pulled away from it by the length effect
    assert abs(m["win_rate"] - m["length_controlled_winrate"]) > 3


def test_metrics_run_offline_without_writing_into_site_packages(tmp_path, monkeypatch):
    import alpaca_eval.metrics.glm_winrate as glm

    weights_dir = Path(glm.__file__).parent / "weights"
    before = sorted(p.name for p in weights_dir.rglob("*")) if weights_dir.exists() else None
    original = glm.hf_hub_download
    rows, outs, table, _, _ = _table(50, 3, 0.0, 1.0)
    alpaca.synthetic_df_gamed(50).to_csv(tmp_path / "g.csv", index=False)
    alpaca.alpaca_metrics(table, tmp_path / "g.csv", "length_controlled_noreg")
    assert glm.hf_hub_download is original  # restored after the block
    after = sorted(p.name for p in weights_dir.rglob("*")) if weights_dir.exists() else None
    assert after == before
    with alpaca.offline_glm_assets(tmp_path / "g.csv"), pytest.raises(RuntimeError, match="instruction_difficulty"):
        glm.hf_hub_download(repo_id="tatsu-lab/alpaca_eval", filename="instruction_difficulty.csv")


def test_equal_lengths_do_not_break_the_glm(tmp_path):
    rows, _ = alpaca.load_instructions("synthetic:20:4")
    outs = [r["output"] for r in rows]  # same lengths as the references
    table = alpaca.annotations_table(rows, outs, [1.5 + 0.2 * (i % 2) for i in range(20)], "m", "t")
    alpaca.synthetic_df_gamed(20).to_csv(tmp_path / "g.csv", index=False)
    m = alpaca.alpaca_metrics(table, tmp_path / "g.csv", "length_controlled_noreg")
    assert m["win_rate"] == pytest.approx(60.0)
    assert 0 < m["length_controlled_winrate"] < 100


def test_sets_smaller_than_the_cross_validation_folds_still_score(tmp_path):
    rows, _ = alpaca.load_instructions("synthetic:3:6")
    table = alpaca.annotations_table(rows, [r["output"] + "!" * i for i, r in enumerate(rows)], [1.9, 1.2, 1.6], "m", "t")
    alpaca.synthetic_df_gamed(3).to_csv(tmp_path / "g.csv", index=False)
    m = alpaca.alpaca_metrics(table, tmp_path / "g.csv", "length_controlled_noreg")
    assert m["win_rate"] == pytest.approx(100 * (0.9 + 0.2 + 0.6) / 3)


def test_instruction_sets_are_validated(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"instruction": "x"}]))
    with pytest.raises(ValueError, match="'output'"):
        alpaca.load_instructions(str(bad))
    with pytest.raises(FileNotFoundError, match="805"):
        alpaca.load_instructions(str(tmp_path / "missing.json"))
    rows, synthetic = alpaca.load_instructions("synthetic:10:0", limit=4)
    assert synthetic and len(rows) == 4
    assert set(rows[0]) >= {"instruction", "output", "generator", "dataset", "index"}


def test_official_set_without_df_gamed_gives_an_lc_win_rate_marked_approximate(tmp_path, monkeypatch):
    monkeypatch.setattr(alpaca, "find_cached_df_gamed", lambda: None)

    class Judge:
        name = "j"

        def annotate(self, ins, base, mod, progress=True):
            return [alpaca_judges.PairwiseAnnotation(1.7 if i % 3 else 1.2) for i in range(len(ins))]

    rows = [{"instruction": f"i{i}", "output": "o" * (i % 4 + 1), "generator": "gpt4_1106_preview", "dataset": "d",
             "index": i} for i in range(12)]
    outs = ["x" * (i % 5 + 1) for i in range(12)]
    res = alpaca.evaluate(rows, outs, Judge(), "m", synthetic=False, df_gamed=None, work_dir=tmp_path)
    assert res["metrics"]["lc_win_rate"]["approx"] is True and res["details"]["lc_exact"] is False
    assert res["details"]["glm"] == "length_controlled_noreg"
    # a configured file that the download step could not fetch: the same approximation, not a failed job
    res = alpaca.evaluate(rows, outs, Judge(), "m", synthetic=False, df_gamed=tmp_path / "none.csv", work_dir=tmp_path)
    assert res["metrics"]["lc_win_rate"]["approx"] is True


def test_unparsable_judgments_are_counted_not_fatal(tmp_path):
    class FlakyJudge:
        name = "flaky"

        def annotate(self, ins, base, mod, progress=True):
            return [alpaca_judges.PairwiseAnnotation(None, "garbage", error="unparsable") if i % 3 == 0
                    else alpaca_judges.PairwiseAnnotation(1.0 + (i % 2)) for i in range(len(ins))]

    rows, _ = alpaca.load_instructions("synthetic:12:5")
    res = alpaca.evaluate(rows, [r["output"] + "!" * i for i, r in enumerate(rows)], FlakyJudge(), "m",
                          synthetic=True, df_gamed=None, work_dir=tmp_path)
    assert res["details"]["n_unparsed"] == 4 and res["metrics"]["win_rate"]["n"] == 8
    parsed = [1.0 + (i % 2) for i in range(12) if i % 3]
    assert res["metrics"]["win_rate"]["value"] == pytest.approx(100 * (np.mean(parsed) - 1))


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "rm")


def _args(tmp_path, judge, **kw):
    base = dict(model=str(tmp_path / "tiny-policy"), model_id="tiny-policy", instructions="synthetic:16:0",
                judge=judge, out=str(tmp_path / "evals" / "tiny-policy" / "alpaca_eval.json"), df_gamed=None,
                api_key_env="GIFT_TEST_NO_SUCH_KEY", cache=None, limit=None, max_new_tokens=16, temperature=0.0,
                batch_size=4, seed=0, no_progress=True, argv=[])
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_run_writes_the_eval_result_with_outputs_and_annotations(tmp_path, tiny_rm):
    calls = []

    def generator(prompts, kwargs):
        calls.append(len(prompts))
        return [p[0]["content"].split()[-1] for p in prompts]

    args = _args(tmp_path, f"reward-model:{tiny_rm}")
    assert alpaca.run(args, generator=generator) == 0
    doc = json.loads(Path(args.out).read_text())
    assert doc["eval"] == "alpaca_eval" and doc["model"] == "tiny-policy"
    assert set(doc["metrics"]) == {"lc_win_rate", "win_rate", "avg_length"}
    for key in ("lc_win_rate", "win_rate"):
        assert 0 <= doc["metrics"][key]["value"] <= 100 and doc["metrics"][key]["n"] == 16
    outputs = json.loads(Path(doc["details"]["outputs"]).read_text())["rows"]
    assert doc["metrics"]["avg_length"]["value"] == pytest.approx(np.mean([len(r["output"]) for r in outputs]))
    assert len(Path(doc["details"]["annotations"]).read_text().splitlines()) == 16
    assert doc["details"]["glm"] == "length_controlled_noreg"
    # a re-run reuses the saved outputs
    assert alpaca.run(args, generator=generator) == 0 and calls == [16]


def test_cli_without_api_key_fails_before_generation(tmp_path, monkeypatch):
    monkeypatch.delenv("GIFT_TEST_NO_SUCH_KEY", raising=False)

    def generator(prompts, kwargs):
        pytest.fail("generation started without an API key")

    with pytest.raises(judge_client.JudgeError, match="GIFT_TEST_NO_SUCH_KEY"):
        alpaca.run(_args(tmp_path, "api:weighted_alpaca_eval_gpt4_turbo"), generator=generator)


def test_cli_parses_its_arguments(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(alpaca, "run", lambda args: seen.setdefault("args", args) and 0)
    alpaca.cli(["--model", "m", "--instructions", "synthetic:4", "--judge", "reward-model:x", "--out", "o.json"])
    assert seen["args"].judge == "reward-model:x" and seen["args"].argv[0] == "--model"
