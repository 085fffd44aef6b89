"""Evaluation through vLLM (its CPU build here): the same prompt ids and greedy completions as the transformers
path, RLVR pass@1, AlpacaEval and Arena-Hard answers and lm-eval's vLLM backend, each recording its engine.

Run with `python -m pytest -m vllm` where the `vllm-cpu` (or `gpu`) extra is installed. Two engines start in all
(the suite's, shared by the generation tests, and lm-eval's own).
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.vllm
pytest.importorskip("vllm")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB

from gift import generation  # noqa: E402
from tests.policy_fixtures import BOS, build_bos_policy, write_addition_prompts  # noqa: E402

PROMPTS = [[{"role": "user", "content": f"{a}+{b}=? Answer as #### n"}] for a, b in [(1, 2), (3, 4), (5, 9)]]
# A generation config that would change every completion if either engine applied it.
INHERITED = {"repetition_penalty": 1.3, "do_sample": True, "temperature": 0.7, "top_k": 5}


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    """Head dim 32 (vLLM's CPU attention refuses 16 and 24); the chat template writes the BOS token."""
    path = build_bos_policy(tmp_path_factory.mktemp("vllm") / "policy", hidden=64, heads=2,
                            generation_config=INHERITED)
    yield str(path)
    generation.close_engines()


def _hf_prompt_ids(model, monkeypatch) -> list[list[int]]:
    """Records the unpadded prompt ids the transformers path feeds `model.generate`."""
    seen: list[list[int]] = []
    original = model.generate

    def spy(input_ids=None, attention_mask=None, **kw):
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            seen.append([t for t, m in zip(ids, mask, strict=True) if m])
        return original(input_ids=input_ids, attention_mask=attention_mask, **kw)

    monkeypatch.setattr(model, "generate", spy)
    return seen


def test_vllm_gets_the_transformers_prompt_ids_with_one_bos_and_agrees_greedily(policy, monkeypatch):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(policy)
    bos = tok.convert_tokens_to_ids(BOS)
    engine = generation.vllm_engine(policy)
    engine_ids: list[list[int]] = []
    original = engine.generate

    def spy(prompts, params, **kw):  # the real engine; records the prompt ids it tokenized or was given
        outputs = original(prompts, params, **kw)
        engine_ids.extend(list(o.prompt_token_ids) for o in outputs)
        return outputs

    monkeypatch.setattr(engine, "generate", spy)
    by_vllm = generation.generate(policy, None, PROMPTS, n=2, max_new_tokens=12, greedy=True, backend="vllm")

    model, tok = generation.load_model(policy)
    hf_ids = _hf_prompt_ids(model, monkeypatch)
    by_hf = generation.generate(model, tok, PROMPTS, n=2, max_new_tokens=12, greedy=True, backend="hf",
                                progress=False)
    assert engine_ids == hf_ids and len(hf_ids) == len(PROMPTS)
    assert all(ids[0] == bos and ids.count(bos) == 1 for ids in engine_ids), "one BOS, the template's"
    assert by_vllm == by_hf and all(o[0] for o in by_hf), "greedy completions agree (fp32 on both engines)"


def _rlvr(policy, data, out, backend):
    from gift.evals.rlvr import pass_at_k as rlvr

    code = rlvr.cli(["--model", policy, "--data", str(data), "--out", str(out), "--k", "2",
                     "--max-new-tokens", "12", "--backend", backend])
    assert code == 0
    return json.loads(out.read_text()), [json.loads(line) for line in
                                         out.with_name(out.stem + ".samples.jsonl").read_text().splitlines()]


def test_rlvr_eval_through_vllm_records_the_engine_and_its_sampling(policy, tmp_path):
    data = write_addition_prompts(tmp_path / "test.jsonl", n=6)
    result, samples = _rlvr(policy, data, tmp_path / "vllm" / "rlvr_gsm8k.json", "vllm")
    hf_result, hf_samples = _rlvr(policy, data, tmp_path / "hf" / "rlvr_gsm8k.json", "hf")
    details = result["details"]
    assert details["generation_engine"] == "vllm" and hf_result["details"]["generation_engine"] == "hf"
    assert details["sampling"] == hf_result["details"]["sampling"], "one set of parameters for both engines"
    assert details["sampling"]["sampled"]["repetition_penalty"] == 1.0 and details["sampling"]["sampled"]["n"] == 2
    assert all(len(s["completions"]) == 2 for s in samples)
    assert [s["greedy"] for s in samples] == [s["greedy"] for s in hf_samples]


def test_alpaca_and_arena_hard_answers_through_vllm(policy, tmp_path):
    from gift.evals.alpaca_eval import evaluate as alpaca
    from gift.evals.arena_hard import evaluate as arena_hard
    from tests.test_judges import build_tiny_reward_model

    rm = build_tiny_reward_model(tmp_path / "rm")
    out = tmp_path / "alpaca_eval.json"
    assert alpaca.cli(["--model", policy, "--instructions", "synthetic:4:0", "--judge", f"reward-model:{rm}",
                       "--out", str(out), "--max-new-tokens", "8", "--backend", "vllm", "--no-progress"]) == 0
    details = json.loads(out.read_text())["details"]
    assert details["generation_engine"] == "vllm" and details["sampling"]["greedy"] is True
    assert details["sampling"]["max_new_tokens"] == 8
    out = tmp_path / "arena_hard.json"
    assert arena_hard.cli(["--model", policy, "--questions", "synthetic:2:2:0", "--judge", f"reward-model:{rm}",
                           "--judge-prompts", str(arena_hard.JUDGE_PROMPTS), "--out", str(out),
                           "--max-new-tokens", "8", "--backend", "vllm", "--no-progress"]) == 0
    details = json.loads(out.read_text())["details"]
    assert details["generation_engine"] == "vllm" and details["sampling"]["stop_token_ids"]
    answers = [json.loads(line) for line in (tmp_path / "arena_hard.answers.jsonl").read_text().splitlines()]
    assert len(answers) == 4


def test_lm_eval_vllm_backend_runs_on_vllms_cpu_build(policy, tmp_path, monkeypatch):
    from importlib import metadata

    from gift.evals.lm_eval import runner

    generation.close_engines()  # lm-eval starts its own engine
    for var in runner.OFFLINE_VARIABLES:
        monkeypatch.setenv(var, "1")
    twins = tmp_path / "twins"
    runner.materialise_twins(twins, seed=0, n=4)
    record = runner.run_lm_eval(policy, f"twins:{twins}", tmp_path / "lm_eval.json", device="cpu", backend="vllm",
                                limit=2, batch_size=4, model_args={"max_model_len": 512})
    assert record["details"]["generation_engine"] == "vllm"
    assert record["details"]["model_args"]["tensor_parallel_size"] == 1
    assert set(record["metrics"]) == {t.key for t in runner.TABLE2_TASKS}
    assert all(0.0 <= m["value"] <= 100.0 for m in record["metrics"].values())
    import lm_eval.models.vllm_causallms as lm_vllm

    # lm-eval reads the version vLLM itself derives for its CPU build; everyone else keeps the real lookup
    try:
        assert lm_vllm.version("vllm") == metadata.version("vllm")  # the GPU build: nothing changed
    except metadata.PackageNotFoundError:
        assert lm_vllm.version("vllm") == metadata.version("vllm-cpu") + "+cpu"
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version("vllm")
