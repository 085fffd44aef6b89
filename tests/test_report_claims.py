"""The claims' verdicts on constructed data whose answer is known both ways, and REPORT.md itself."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from gift.report import claims as C
from gift.report import verdicts as V
from gift.report.cli import report_main
from gift.report.inputs import Run
from gift.report.stats import (
    EVAL_ONLY,
    INTERVAL_METHOD,
    SEEDS,
    Obs,
    contrast_interval,
    holm,
    normalised_auc,
    spearman,
    steps_to_threshold,
    welch_df,
)
from tests.report_fixtures import synthetic_results

REPO = Path(__file__).resolve().parents[1]
CLAIM_IDS = ["C1", "C2", "C3a", "C3b", "C4", "C5", "C6a", "C6b", "C7", "C8", "C9", "C10"]


def _run(run_id, method, figure, dataset="gsm8k", variant=None, seed=0, **series):
    """A Run whose metrics hold the given {key: {step: value}} series."""
    steps = sorted({s for v in series.values() for s in v})
    rows = [{"step": s, **{k: v[s] for k, v in series.items() if s in v}} for s in steps]
    entry = {"run_id": run_id, "method": method, "figure": [figure], "backbone": "tiny", "dataset": dataset,
             "variant": variant or {}, "seed": seed}
    return Run(run_id=run_id, entry=entry, metrics=rows)


def _report(tmp_path, res, name="REPORT.md"):
    out = tmp_path / name
    figs = [str(tmp_path / "figures" / "fig3.png")]
    assert report_main(["--config-name", "synthetic", "--grid", str(res.grid_path),
                        "--runs", *map(str, res.run_dirs.values()), "--evals", *map(str, res.eval_paths),
                        "--figures", *figs, "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".claims.json").read_text(encoding="utf-8"))
    return out.read_text(encoding="utf-8"), {c["cid"]: c for c in doc["claims"]}


@pytest.mark.parametrize("gift_better,expected", [(True, V.SUPPORTED), (False, V.CONTRADICTED)])
def test_every_claim_verdict_follows_the_data_both_ways(tmp_path, gift_better, expected):
    res = synthetic_results(tmp_path / "results", seeds=(0, 1, 2), gift_better=gift_better)
    md, claims = _report(tmp_path, res)
    for cid in CLAIM_IDS:
        # C1 and C7 also see Figure 5's Qwen3-role setting, where the synthetic GIFT and GRPO curves are
        # identical: that setting is inconclusive and the decisive settings carry the verdict.
        assert claims[cid]["verdict"] == expected, (cid, claims[cid]["measured"])
    assert claims["C1"]["counts"] == {"supported": 5 * gift_better, "contradicted": 5 * (not gift_better),
                                      "inconclusive": 1, "no verdict": 0}
    assert "| C4 | The summed implicit reward (kl_sum) beats its token average (kl_average)" in md
    for cid in CLAIM_IDS:
        assert f"**{cid}**" in md  # each rule is stated
    assert V.AGGREGATION_RULE in md and V.SETTING_RULE in md and INTERVAL_METHOD in md
    assert '"GRPO achieves higher training accuracy but lower evaluation accuracy than GIFT"' in md
    assert '"across all seven tasks, GIFT consistently surpasses GRPO"' in md
    rst = (tmp_path / "REPORT.rst").read_text(encoding="utf-8")
    assert ".. list-table::" in rst and "{" not in rst


def test_claims_without_their_runs_are_not_measured(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    # only the Figure 2b runs and the evaluations are given; the grid's other runs read 'not run'
    out = tmp_path / "REPORT.md"
    runs = [str(p) for rid, p in res.run_dirs.items() if "kl_" in rid]
    assert report_main(["--config-name", "smoke", "--grid", str(res.grid_path), "--runs", *runs,
                        "--evals", "--out", str(out)]) == 0
    claims = {c["cid"]: c for c in json.loads(out.with_suffix(".claims.json").read_text())["claims"]}
    # one seed per aggregation: no seed spread, no verdict; the interval shown holds evaluation sampling only
    assert claims["C4"]["verdict"] == V.NO_VERDICT
    assert claims["C4"]["details"][0]["95% interval"].endswith("(evaluation only)")
    for cid in set(CLAIM_IDS) - {"C4"}:
        assert claims[cid]["verdict"] == V.NOT_MEASURED, cid
    md = out.read_text(encoding="utf-8")
    assert "- tiny-gsm8k-gift-n2-s0: no metrics.jsonl (training run)" in md
    assert "not run" in md and "42 of 42 paper cells not run" in md


def _seeded(method, figure, finals, se=None, key="eval_pass@1", dataset="gsm8k", **extra):
    """One run per seed whose `key` ends at each of `finals` (with logged standard error `se`)."""
    out = []
    for seed, f in enumerate(finals):
        series = {key: {1: 10.0, 2: f}}
        if se is not None:
            series[f"{key}_stderr"] = {1: se, 2: se}
        series.update(extra)
        out.append(_run(f"{method}-{dataset}-{seed}", method, figure, dataset=dataset, seed=seed, **series))
    return out


def test_final_pass_verdicts_follow_the_interval():
    # three seeds apart by 10 points with a 0.5-point eval error: supported; the reverse contradicted
    gift, grpo = _seeded("gift", "fig3", [60, 61, 62], se=0.5), _seeded("grpo", "fig3", [50, 51, 52], se=0.5)
    r = C.claim_higher_final_pass(gift + grpo)
    assert r.verdict == V.SUPPORTED and r.details[0]["difference"] == pytest.approx(10.0)
    assert C.claim_higher_final_pass(_seeded("gift", "fig3", [50, 51, 52], se=0.5)
                                     + _seeded("grpo", "fig3", [60, 61, 62], se=0.5)).verdict == V.CONTRADICTED
    # a 1-point difference against a 5-point seed spread is inside the noise
    noisy = C.claim_higher_final_pass(_seeded("gift", "fig3", [46, 51, 56], se=0.5)
                                      + _seeded("grpo", "fig3", [45, 50, 55], se=0.5))
    assert noisy.verdict == V.INCONCLUSIVE
    # one seed per method: no verdict, however far apart, and whatever the evaluation noise
    bare = C.claim_higher_final_pass(_seeded("gift", "fig3", [90]) + _seeded("grpo", "fig3", [10]))
    assert bare.verdict == V.NO_VERDICT and bare.details[0]["95% interval"] == "—"
    # with the eval item count logged, the evaluation-only interval (binomial bound over n items) is shown as that
    with_n = C.claim_higher_final_pass(_seeded("gift", "fig3", [90], eval_n={1: 64, 2: 64})
                                       + _seeded("grpo", "fig3", [10], eval_n={1: 64, 2: 64}))
    assert with_n.verdict == V.NO_VERDICT
    half = sps.norm.ppf(0.975) * math.sqrt(2 * 90 * 10 / 64)
    assert with_n.details[0]["95% interval"] == f"[{80 - half:+.2f}, {80 + half:+.2f}] (evaluation only)"
    only_gift = C.claim_higher_final_pass(gift)
    assert only_gift.verdict == V.NOT_MEASURED


def test_convergence_is_the_area_between_the_curves():
    # GIFT at 55 from step 20 on, GRPO only at step 30: GIFT's curve encloses more area
    def runs(method, curve, n=3):
        return [_run(f"{method}{s}", method, "fig3", seed=s,
                     **{"eval_pass@1": {k: v + 0.3 * s for k, v in curve.items()},
                        "eval_pass@1_stderr": dict.fromkeys(curve, 0.5)}) for s in range(n)]
    gift = runs("gift", {10: 30, 20: 55, 30: 60, 40: 60})
    grpo = runs("grpo", {10: 30, 20: 40, 30: 58, 40: 60})
    r = C.claim_converges_faster(gift + grpo)
    d = r.details[0]
    # trapezoids over [10, 40]: GIFT (42.5 + 57.5 + 60) / 3, GRPO (35 + 49 + 59) / 3; seeds add 0.3 each to both
    assert d["difference"] == pytest.approx((42.5 + 57.5 + 60) / 3 - (35 + 49 + 59) / 3)
    assert (d["GIFT steps to T"], d["GRPO steps to T"]) == (20.0, 30.0)
    assert r.verdict == V.SUPPORTED
    assert C.claim_converges_faster(runs("gift", {10: 30, 20: 40, 30: 58, 40: 60})
                                    + runs("grpo", {10: 30, 20: 55, 30: 60, 40: 60})).verdict == V.CONTRADICTED
    assert C.claim_converges_faster(gift).verdict == V.NOT_MEASURED


def test_overfitting_needs_both_halves_of_the_sentence():
    def pair(dataset, gift_train, grpo_train, gift_eval, grpo_eval):
        steps = range(1, 11)
        out = []
        for m, tr, ev in (("gift", gift_train, gift_eval), ("grpo", grpo_train, grpo_eval)):
            for s in range(2):
                out.append(_run(f"{m}-{dataset}-{s}", m, "fig3", dataset=dataset, seed=s,
                                **{"train_pass@1": {k: tr + 0.2 * ((k + s) % 3) for k in steps},
                                   "eval_pass@1": {10: ev + 0.2 * s}, "eval_pass@1_stderr": {10: 0.5}}))
        return out
    assert C.claim_overfits_less(pair("gsm8k", 60, 70, 55, 50)).verdict == V.SUPPORTED
    # GRPO higher in training but also higher in evaluation: the sentence is contradicted
    assert C.claim_overfits_less(pair("gsm8k", 60, 70, 50, 55)).verdict == V.CONTRADICTED
    # the same eval in both, GRPO higher in training: half the sentence holds, the other is inside the noise
    assert C.claim_overfits_less(pair("gsm8k", 60, 70, 50, 50)).verdict == V.INCONCLUSIVE
    # MATH alone says nothing about the GSM8K claim
    assert C.claim_overfits_less(pair("math", 60, 70, 55, 50)).verdict == V.NOT_MEASURED


def test_rollout_rules_on_known_curves():
    def sweep(finals):
        return [_run(f"n{n}-{s}", "gift", "fig2a", variant={"num_generations": n}, seed=s,
                     **{"eval_pass@1": {1: f + 0.3 * (s - 1)}, "eval_pass@1_stderr": {1: 0.3}})
                for n, f in finals.items() for s in range(3)]
    flattening = sweep({4: 30.0, 8: 40.0, 16: 50.0, 32: 52.0})
    assert C.claim_more_rollouts_help(flattening).verdict == V.SUPPORTED
    small = C.claim_small_gains_beyond(flattening)
    # below 16: (50 - 30) / log2(16/4) = 10 per doubling; above: (52 - 50) / 1 = 2 < 0.5 * 10
    assert small.details[0]["gain per doubling below"] == pytest.approx(10.0)
    assert small.details[0]["gain per doubling above"] == pytest.approx(2.0)
    assert small.verdict == V.SUPPORTED
    still_rising = sweep({4: 30.0, 8: 40.0, 16: 50.0, 32: 60.0})  # 10 above = 10 below: not small
    assert C.claim_small_gains_beyond(still_rising).verdict == V.CONTRADICTED
    falling = sweep({4: 50.0, 8: 45.0, 16: 40.0})
    assert C.claim_more_rollouts_help(falling).verdict == V.CONTRADICTED
    assert C.claim_small_gains_beyond(falling).verdict == V.NOT_MEASURED  # nothing beyond 16
    # the pivot is a parameter: a tiny sweep can test 'small gains beyond 4'
    assert C.claim_small_gains_beyond(sweep({2: 10.0, 4: 30.0, 8: 31.0}), pivot=4).verdict == V.SUPPORTED


def test_kl_sum_length_and_reward_rules():
    runs = [_run(f"{agg}{s}", "gift", "fig2b", variant={"implicit_aggregation": agg}, seed=s,
                 **{"eval_pass@1": {1: f + s}, "eval_pass@1_stderr": {1: 0.5}})
            for agg, f in (("sum", 50), ("mean", 45)) for s in range(3)]
    assert C.claim_kl_sum_beats_average(runs).verdict == V.SUPPORTED
    for r in runs[3:]:
        r.metrics[0]["eval_pass@1"] += 10
    assert C.claim_kl_sum_beats_average(runs).verdict == V.CONTRADICTED
    steps = range(1, 21)

    def length_runs(gift_len, grpo_len):
        return [_run(f"{m}{s}", m, "fig5", dataset="dapo", seed=s,
                     **{"completion_length": {k: base + s + (k % 2) for k in steps},
                        "eval_pass@1": {20: 5.0}}) for m, base in (("gift", gift_len), ("grpo", grpo_len))
                for s in range(3)]
    r = C.claim_longer_responses(length_runs(300, 200))
    assert r.details[0]["difference"] == pytest.approx(100.0) and r.verdict == V.SUPPORTED
    assert C.claim_longer_responses(length_runs(200, 300)).verdict == V.CONTRADICTED
    rlhf = [_run(f"{m}{s}", m, "fig6", dataset="rlhf", seed=s,
                 **{"reward_mean": {k: top * (1 - 0.5 ** k) + 0.01 * s for k in steps}})
            for m, top in (("gift", 0.7), ("grpo", 0.5)) for s in range(3)]
    for r in rlhf:
        r.entry["eval_dataset"] = None
    assert C.claim_rlhf_reward(rlhf).verdict == V.SUPPORTED


def test_more_pronounced_on_qwen25_than_on_the_qwen3_backbone_of_figure_5():
    def runs(backbone, label, gift, grpo, fig="fig5"):
        out = []
        for m, f in (("gift", gift), ("grpo", grpo)):
            for r in _seeded(m, fig, [f, f + 0.5, f + 1.0], se=0.5, dataset="dapo_math"):
                r.entry["backbone"], r.entry["backbone_label"] = backbone, label
                r.run_id = f"{backbone}-{r.run_id}"
                out.append(r)
        return out
    # the Qwen3 backbone is told by its id or label, not by a fixed id: a renamed Qwen3 model still counts
    qwen3 = runs("qwen3-30b-a3b-base", "Qwen3-30B-A3B-Base", 55, 50)
    qwen25 = runs("qwen2.5-32b", "Qwen2.5-32B (base)", 70, 50)
    r = C.claim_larger_model_gains_more(qwen3 + qwen25)
    assert len(r.details) == 1 and r.details[0]["setting"].startswith("Qwen2.5-32B (base)")
    assert r.details[0]["difference"] == pytest.approx(20.0 - 5.0) and r.verdict == V.SUPPORTED
    assert C.claim_larger_model_gains_more(runs("qwen3-32b", "Qwen3-32B", 70, 50)
                                           + runs("qwen2.5-32b", "Qwen2.5-32B", 55, 50)).verdict == V.CONTRADICTED
    # Figures 3 and 4 are not the paper's comparison: they measure nothing here
    assert C.claim_larger_model_gains_more(runs("b7", "7B", 55, 50, "fig3")
                                           + runs("b32", "32B", 70, 50, "fig4")).verdict == V.NOT_MEASURED
    assert C.claim_larger_model_gains_more(qwen25).verdict == V.NOT_MEASURED


def _grad_runs(method, norms_of_seed, max_grad_norm=None, reference=None, updates=None, evals=None):
    out = []
    for s in range(3):
        norms = norms_of_seed(s)
        ev = evals(s) if evals else {len(norms): 50.0}
        r = _run(f"{method}{s}", method, "fig3", seed=s, **{"grad_norm": dict(enumerate(norms, start=1)),
                                                           "eval_pass@1": ev})
        args = {}
        if max_grad_norm is not None:
            args["max_grad_norm"] = max_grad_norm
        if reference is not None:
            args["implicit_reference"] = reference
        if updates is not None:
            args.update(steps_per_generation=updates * 2, gradient_accumulation_steps=2)
        r.entry["method_args"] = args
        out.append(r)
    return out


def test_stability_counts_clipped_steps_and_the_spread_of_the_gradient_norm():
    rng = np.random.default_rng(0)
    runs = _grad_runs
    gift = runs("gift", lambda s: [100.0] + [0.3] * 59, reference="reference")  # clipped at the first step only
    grpo = runs("grpo", lambda s: list(10 ** rng.normal(0.0, 0.5, 60)))  # about half the steps above 1.0
    # against pi_ref the first update is clipped by construction and left out
    assert C.clip_fraction_obs(gift[0]).value == 0.0
    g = np.array([r["grad_norm"] for r in grpo[0].metrics])
    clip = C.clip_fraction_obs(grpo[0])
    f = np.mean(g > 1.0)
    assert clip.value == pytest.approx(100.0 * f) and clip.se == pytest.approx(100.0 * math.sqrt(f * (1 - f) / 60))
    q1, q3 = np.percentile(np.log10(g), [25, 75])
    assert C.grad_spread_obs(grpo[0]).value == pytest.approx(q3 - q1)
    assert C.claim_stable(gift + grpo).verdict == V.SUPPORTED
    assert C.claim_stable(runs("gift", lambda s: list(10 ** rng.normal(0.0, 0.5, 60)), reference="reference") + runs(
        "grpo", lambda s: [0.3] * 60)).verdict == V.CONTRADICTED
    # the threshold is the run's own max_grad_norm: at 1000 nothing was clipped
    assert C.clip_fraction_obs(runs("grpo", lambda s: [5.0] * 10, max_grad_norm=1000.0)[0]).value == 0.0


def test_stability_leaves_out_the_first_update_of_each_rollout_batch_against_the_rollout_policy(tmp_path):
    # 4 updates per rollout batch: updates 1, 5, 9, ... have rhat = 0 and a ~1/eps gradient, clipped by design
    norms = [100.0 if (k - 1) % 4 == 0 else 0.3 for k in range(1, 41)]
    rollout = _grad_runs("gift", lambda s: norms, reference="rollout", updates=4)
    assert C.clip_fraction_obs(rollout[0]).value == 0.0
    assert C.grad_spread_obs(rollout[0]).value == 0.0
    # counted like any update (the old rule), a quarter of the updates would read as clipped
    counted = _grad_runs("gift", lambda s: norms, reference="rollout", updates=1)
    assert C.clip_fraction_obs(counted[0]) is None  # every update starts a rollout batch: nothing left to judge
    assert C.clip_fraction_obs(_grad_runs("grpo", lambda s: norms)[0]).value == pytest.approx(25.0)
    # the manifest's batch record (what gift train derived) is read first
    run = counted[0]
    (tmp_path / "manifest.json").write_text(json.dumps({"batch": {"updates_per_rollout_batch": 4.0}}))
    run.path = tmp_path
    assert C.clip_fraction_obs(run).value == 0.0


def test_stability_fails_when_gift_collapses_and_shows_the_seed_spread():
    rng = np.random.default_rng(1)
    steady = lambda s: [0.3 + 0.01 * k % 3 for k in range(60)]  # noqa: E731
    # GIFT's eval curve climbs to 60 then falls back to 20 in every seed; GRPO's holds
    collapse = lambda s: {10: 40.0 + s, 30: 60.0 + s, 50: 30.0 + s, 60: 20.0 + s}  # noqa: E731
    hold = lambda s: {10: 40.0 + s, 30: 55.0 + s, 50: 56.0 + s, 60: 56.0 + s}  # noqa: E731
    gift = _grad_runs("gift", steady, reference="reference", evals=collapse)
    grpo = _grad_runs("grpo", lambda s: list(10 ** rng.normal(0.0, 0.5, 60)), evals=hold)
    r = C.claim_stable(gift + grpo)
    assert r.verdict == V.CONTRADICTED
    assert r.details[0]["collapsed runs"] == {"GIFT": 3, "GRPO": 0}
    assert r.details[0]["GIFT final sd"] == pytest.approx(1.0)
    # the same gradients without the collapse: supported
    assert C.claim_stable(_grad_runs("gift", steady, reference="reference", evals=hold) + grpo).verdict \
        == V.SUPPORTED


def test_holm_against_a_hand_worked_example():
    # p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06;
    # 0.04 x 1 = 0.04 -> 0.06 (adjusted p-values never decrease along the order)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5] and holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_aggregation_rules():
    S, X, U, N = V.SUPPORTED, V.CONTRADICTED, V.INCONCLUSIVE, V.NO_VERDICT

    def claim(rows, every=False):
        return V.family_verdicts(rows, every=every)[2]
    assert claim([]) == V.NOT_MEASURED
    assert claim([(1.0, None), (-1.0, None)]) == N  # no setting with seeds: no verdict
    assert claim([(1.0, 0.001), (1.0, 0.5)]) == S and claim([(-1.0, 0.001), (1.0, 0.5)]) == X
    assert claim([(1.0, 0.001), (-1.0, 0.001)]) == U and claim([(1.0, 0.3), (1.0, 0.4)]) == U
    # p = 0.03 decides alone, not in a family of three where Holm asks for 0.05 / 3 of the smallest
    assert claim([(1.0, 0.03)]) == S
    assert claim([(1.0, 0.03), (1.0, 0.6), (1.0, 0.7)]) == U
    # Holm over the two settings with seeds: 0.01 x 2 = 0.02, then 0.04 x 1 = 0.04; both below 5%, opposite sides
    verdicts, adjusted, verdict = V.family_verdicts([(1.0, 0.01), (-1.0, 0.04), (1.0, None)])
    assert verdicts == [S, X, N] and adjusted[:2] == pytest.approx([0.02, 0.04]) and adjusted[2] is None
    assert verdict == U
    # 'consistently': every setting must support it at 5%, one Holm-decisive contradiction decides
    assert claim([(1.0, 0.04), (1.0, 0.03)], every=True) == S
    assert claim([(1.0, 0.04), (1.0, 0.3)], every=True) == U
    assert claim([(1.0, 0.001), (1.0, 0.001), (-1.0, 0.001)], every=True) == X
    assert claim([(1.0, 0.001), (1.0, None)], every=True) == U


def test_welch_interval_against_scipy_and_the_closed_form_df():
    a = [Obs(v) for v in (50.0, 54.0, 47.0, 52.0)]
    b = [Obs(v) for v in (40.0, 45.0, 43.0)]
    iv = contrast_interval({"a": a, "b": b}, V.difference("a", "b"))
    va, vb = np.var([50, 54, 47, 52], ddof=1) / 4, np.var([40, 45, 43], ddof=1) / 3
    # Welch-Satterthwaite: (va + vb)^2 / (va^2 / 3 + vb^2 / 2)
    assert iv.df == pytest.approx((va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 2))
    assert welch_df([va, vb], [4, 3]) == pytest.approx(iv.df)
    ref = sps.ttest_ind([50, 54, 47, 52], [40, 45, 43], equal_var=False)
    assert iv.p == pytest.approx(ref.pvalue) and iv.kind == SEEDS
    lo, hi = ref.confidence_interval(0.95)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi))
    # one seed in a group: the evaluation-only interval, paired by item when both runs logged the same items
    items_a = {f"q{i}": float(i % 3 == 0) * 100 for i in range(40)}
    items_b = {f"q{i}": float(i % 3 == 0 or i % 7 == 0) * 100 for i in range(40)}
    one = contrast_interval({"a": [Obs(np.mean(list(items_a.values())), 7.0, items_a)],
                             "b": [Obs(np.mean(list(items_b.values())), 7.0, items_b)]}, V.difference("a", "b"))
    d = np.array([items_a[k] - items_b[k] for k in items_a])
    assert one.kind == EVAL_ONLY and one.se == pytest.approx(d.std(ddof=1) / math.sqrt(40))
    # paired, the shared items cancel: far narrower than the unpaired sqrt(7^2 + 7^2)
    assert one.se < 0.5 * math.sqrt(98)


def test_welch_coverage_measured_by_a_second_implementation():
    # 4000 null settings of 3 seeds against 3 with unequal spreads: the report's interval and scipy's Welch
    # interval on the same data hold 0 equally often, and near 95% (Monte Carlo SE 0.35%)
    rng = np.random.default_rng(7)
    hits = hits_ref = 0
    n = 4000
    for _ in range(n):
        a, b = rng.normal(0, 1.0, 3), rng.normal(0, 2.0, 3)
        iv = contrast_interval({"a": [Obs(x) for x in a], "b": [Obs(x) for x in b]}, V.difference("a", "b"))
        hits += iv.lo <= 0 <= iv.hi
        lo, hi = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        hits_ref += lo <= 0 <= hi
    assert hits == hits_ref
    assert 0.94 <= hits / n <= 0.99


def test_curve_statistics_against_independent_computations():
    x, y = [1, 2, 3, 4, 5, 6], [2.0, 1.0, 4.0, 4.0, 9.0, 7.0]
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    assert spearman(x, [3.0] * 6) is None
    # a straight line from (0, 0) to (10, 10): mean height 5 over [0, 10]; 7.5 over [5, 10]
    assert normalised_auc([0, 10], [0, 10], 0, 10) == pytest.approx(5.0)
    assert normalised_auc([0, 10], [0, 10], 5, 10) == pytest.approx(7.5)
    assert steps_to_threshold([1, 2, 3], [0.1, 0.5, 0.9], 0.5) == 2
    assert math.isinf(steps_to_threshold([1, 2], [0.1, 0.2], 0.5))


def test_paper_counts_gift_above_grpo_in_21_of_22_cells(tmp_path):
    # counted by hand from docs/evaluation.md#the-papers-numbers: every Table 2 cell, and Table 3 but for 7B's AH style control (3.0 < 3.2)
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    _, claims = _report(tmp_path, res)
    assert "GIFT higher in 14 of 14 cells" in claims["C6a"]["paper"]
    assert "GIFT higher in 7 of 8 cells" in claims["C6b"]["paper"]


def test_final_pass_is_judged_on_the_full_test_set_evaluation_when_every_run_has_one():
    # the periodic (bounded) eval says GIFT is 10 points behind; the full-set evaluation of the final models
    # says 5 points ahead with a 0.4-point sampling error: the claim is judged on the latter
    gift, grpo = _seeded("gift", "fig3", [50, 51, 52], se=0.5), _seeded("grpo", "fig3", [60, 61, 62], se=0.5)
    for run, value in zip(gift + grpo, [65, 66, 67, 60, 61, 62], strict=True):
        run.final_eval = {"value": float(value), "stderr": 0.4, "n": 1319}
    r = C.claim_higher_final_pass(gift + grpo)
    assert r.verdict == V.SUPPORTED and r.details[0]["difference"] == pytest.approx(5.0)
    assert r.details[0]["measured on"] == "final models, full test set (n = 1319)"
    # one run without it: the whole setting falls back to the periodic eval (no mixing within a setting)
    grpo[0].final_eval = None
    r = C.claim_higher_final_pass(gift + grpo)
    assert r.verdict == V.CONTRADICTED and r.details[0]["difference"] == pytest.approx(-10.0)
    # the label names the window the fallback reads: the last 10% of the logged points
    assert r.details[0]["measured on"] == "periodic eval, last 10% of its logged points"


def test_final_evaluations_are_attached_to_their_runs_from_the_eval_files(tmp_path):
    from gift.report.inputs import attach_final_evals, load_eval_results

    runs = _seeded("gift", "fig3", [50, 51]) + _seeded("grpo", "fig3", [40], dataset="math")
    for r in runs:
        r.entry["eval_dataset"] = r.dataset
    files = []
    # gift-gsm8k-0 has its own file; gift-gsm8k-1 only an evaluation on another dataset; grpo-math-0 has one
    for model, stem, value in [("gift-gsm8k-0", "rlvr_gsm8k", 71.25), ("gift-gsm8k-1", "rlvr_math", 12.0),
                               ("grpo-math-0", "rlvr_math", 33.5)]:
        path = tmp_path / "evals" / model / f"{stem}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"model": model, "eval": "rlvr", "metrics": {
            "pass@1": {"value": value, "stderr": 1.25, "n": 1319, "metric": "pass@1"}}}))
        files.append(path)
    # per-item records beside gift-gsm8k-0's result (eval_items.jsonl): id, samples, correct
    items = files[0].with_name("rlvr_gsm8k.eval_items.jsonl")
    items.write_text("".join(json.dumps({"id": f"q{i}", "samples": 4, "correct": i % 5}) + "\n" for i in range(4)))
    assert attach_final_evals(runs, load_eval_results(files)[0]) == 2
    assert runs[0].final_eval == {"value": 71.25, "stderr": 1.25, "n": 1319, "path": str(files[0]),
                                  "items": {"q0": 0.0, "q1": 25.0, "q2": 50.0, "q3": 75.0}}
    items.write_text('{"id": "q0", "samples": 4}\n')
    with pytest.raises(ValueError, match=r"rlvr_gsm8k.eval_items.jsonl: line 1: needs numeric"):
        attach_final_evals(runs, load_eval_results(files)[0])
    assert runs[1].final_eval is None
    assert runs[2].final_eval["value"] == 33.5


def test_the_report_shows_only_the_tables_its_config_reproduces(tmp_path):
    res = synthetic_results(tmp_path / "results", seeds=(0,))
    common = ["--config-name", "synthetic", "--grid", str(res.grid_path),
              "--runs", *map(str, res.run_dirs.values()), "--evals", *map(str, res.eval_paths)]
    assert report_main([*common, "--out", str(tmp_path / "all.md")]) == 0
    every = (tmp_path / "all.md").read_text(encoding="utf-8")
    assert "## Tables 2 and 3: the paper's numbers beside the reproduced ones" in every
    assert "### Table 2:" in every and "### Table 3:" in every and "## Table 1: the methods compared" in every
    # a sweep config reproduces no table of the paper but Table 1 (report.tables: {table1: []})
    assert report_main([*common, "--tables", "table1", "--out", str(tmp_path / "sweep.md")]) == 0
    sweep = (tmp_path / "sweep.md").read_text(encoding="utf-8")
    assert "### Table 2:" not in sweep and "### Table 3:" not in sweep
    assert "## Tables 2 and 3" not in sweep and "0 of 0 cells" not in sweep
    assert "## Table 1: the methods compared" in sweep
    assert report_main([*common, "--tables", "table3", "--out", str(tmp_path / "t3.md")]) == 0
    t3 = (tmp_path / "t3.md").read_text(encoding="utf-8")
    assert "## Table 3: the paper's numbers" in t3 and "### Table 2:" not in t3 and "Table 1:" not in t3


def test_one_seed_settings_show_the_item_paired_evaluation_interval_and_no_verdict():
    # one final model per method scored on the same 200 items: the items' difficulty is shared, so the paired
    # interval is much narrower than the unpaired one; either way one seed gives no verdict
    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0, 100, 200)
    gift, grpo = _seeded("gift", "fig3", [50]), _seeded("grpo", "fig3", [40])
    for run, shift in ((gift[0], 5.0), (grpo[0], 0.0)):
        items = {f"q{i}": float(np.clip(d + shift + rng.normal(0, 5), 0, 100)) for i, d in enumerate(difficulty)}
        run.final_eval = {"value": float(np.mean(list(items.values()))), "stderr": 2.0, "n": 200, "items": items}
    r = C.claim_higher_final_pass(gift + grpo)
    assert r.verdict == V.NO_VERDICT and r.counts[V.NO_VERDICT] == 1
    d = np.array([gift[0].final_eval["items"][k] - grpo[0].final_eval["items"][k] for k in gift[0].final_eval["items"]])
    half = sps.t.ppf(0.975, 199) * d.std(ddof=1) / math.sqrt(200)
    assert r.details[0]["95% interval"] == f"[{d.mean() - half:+.2f}, {d.mean() + half:+.2f}] (evaluation only)"
    assert half < 0.5 * sps.norm.ppf(0.975) * math.sqrt(2 * 2.0 ** 2)
