"""`gift eval lm-eval` end to end: lm-eval's simple_evaluate on the seven twins with a tiny random Qwen2, checked
against log-likelihoods computed here, the size-weighted group means, and MBPP through the sandbox."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_var, "1")

from gift.evals.lm_eval import runner  # noqa: E402

N = 6  # GPQA subsets then hold 2, 6 and 5 documents: the size weighting matters


def build_tiny_qwen2(path: Path) -> None:
    """A randomly initialised Qwen2 of a few thousand parameters with a byte-level tokenizer and a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for s in specials:
        vocab[s] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    chat = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=chat)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                         tie_word_embeddings=True, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = Qwen2ForCausalLM(config)
    # Larger weights than the default init so that choices get clearly different log-likelihoods.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.5)
    model.save_pretrained(path)
    fast.save_pretrained(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval_run")
    build_tiny_qwen2(root / "tiny")
    runner.materialise_twins(root / "twins", seed=1, n=N)
    out = root / "results" / "evals" / "tiny-s0" / "lm_eval.json"
    with pytest.MonkeyPatch.context() as mp:
        for var in runner.OFFLINE_VARIABLES:
            mp.setenv(var, "1")  # restored after: the runner sets them process-wide
        code = runner.cli(["--model", str(root / "tiny"), "--tasks", f"twins:{root / 'twins'}", "--out", str(out),
                           "--model-id", "tiny-s0", "--batch-size", "4"])
    assert code == 0
    samples = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    return {"root": root, "out": out, "record": json.loads(out.read_text()), "samples": samples}


def _by_task(samples: list[dict], task: str) -> list[dict]:
    rows = sorted((s for s in samples if s["task"] == task), key=lambda s: s["doc_id"])
    assert rows, task
    return rows


def test_run_writes_all_seven_metrics_in_the_interface_format(run):
    record = run["record"]
    assert record["model"] == "tiny-s0" and record["eval"] == "lm_eval"
    assert set(record["metrics"]) == {"truthfulqa", "bbq", "mbpp", "arc_challenge", "winogender", "gpqa", "musr"}
    for key, m in record["metrics"].items():
        assert 0.0 <= m["value"] <= 100.0, key
        assert m["n"] == len([s for s in run["samples"] if s["task"] in (m.get("subtasks") or {m["task"]: 0})]), key
        assert m["stderr"] is None or m["stderr"] >= 0
    assert record["metrics"]["mbpp"]["metric"] == "pass_at_1" and record["metrics"]["mbpp"]["n_shot"] == 3
    assert record["metrics"]["truthfulqa"]["version"] == 3.0
    assert record["details"]["sandbox_status"] and sum(record["details"]["sandbox_status"].values()) == N
    from gift.sandbox.runner import isolation_report

    assert record["details"]["sandbox"]["mode"] == isolation_report()["mode"]  # every MBPP result names its mode
    assert record["provenance"]["versions"]["lm_eval"]
    raw = json.loads(run["out"].with_suffix(".raw.json").read_text())
    assert "leaderboard_gpqa_twin" in raw["results"]


def _loglikelihoods(model_dir: Path, context: str, continuations: list[str]) -> list[float]:
    """log p(continuation | context) summed over tokens, computed directly with transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    out = []
    for cont in continuations:
        cont_ids = tok(cont, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([ctx + cont_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
        targets = ids[0, 1:]
        out.append(float(logp[torch.arange(len(ctx) - 1, ids.shape[1] - 1), targets[len(ctx) - 1:]].sum()))
    return out


def test_winogender_acc_and_arc_acc_norm_match_log_likelihoods_computed_here(run):
    model_dir = run["root"] / "tiny"
    docs = [json.loads(line) for line in (run["root"] / "twins/data/winogender/test.jsonl").read_text().splitlines()]
    hits = []
    for doc in docs:  # upstream's prompt: "{{sentence}} ‘{{pronoun.capitalize()}}’ refers to the"
        context = f"{doc['sentence']} ‘{doc['pronoun'].capitalize()}’ refers to the"
        lls = _loglikelihoods(model_dir, context, [" " + doc["occupation"], " " + doc["participant"]])
        hits.append(float(max(range(2), key=lambda i: lls[i]) == doc["label"]))
    assert run["record"]["metrics"]["winogender"]["value"] == pytest.approx(100.0 * sum(hits) / len(hits))

    docs = [json.loads(line) for line in (run["root"] / "twins/data/arc_challenge/test.jsonl").read_text().splitlines()]
    logged = _by_task(run["samples"], "arc_challenge_twin")
    hits = []
    for doc, sample in zip(docs, logged, strict=True):  # acc_norm: log-likelihood over the choice's length in chars
        texts = doc["choices"]["text"]
        lls = _loglikelihoods(model_dir, f"Question: {doc['question']}\nAnswer:", [" " + t for t in texts])
        assert lls == pytest.approx([r[0] for r in sample["filtered_resps"]], abs=1e-3)
        best = max(range(len(texts)), key=lambda i: lls[i] / len(texts[i]))
        hits.append(float(best == doc["choices"]["label"].index(doc["answerKey"])))
    assert run["record"]["metrics"]["arc_challenge"]["value"] == pytest.approx(100.0 * sum(hits) / len(hits))


def test_truthfulqa_mc2_is_the_normalised_probability_of_the_true_answers(run):
    for s in _by_task(run["samples"], "truthfulqa_mc2_twin"):
        lls = [r[0] for r in s["filtered_resps"]] if isinstance(s["filtered_resps"][0][0], float) else \
              [r[0][0] for r in s["filtered_resps"]]
        probs = [math.exp(x - max(lls)) for x in lls]
        labels = s["doc"]["mc2_targets"]["labels"]
        expected = sum(p for p, lab in zip(probs, labels, strict=True) if lab) / sum(probs)
        assert s["acc"] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_gpqa_and_musr_are_size_weighted_means_of_their_subtasks(run):
    for key, prefix in (("gpqa", "leaderboard_gpqa_"), ("musr", "leaderboard_musr_")):
        m = run["record"]["metrics"][key]
        subtasks = [t for t in {s["task"] for s in run["samples"]} if t.startswith(prefix)]
        assert len(subtasks) == 3
        per_doc = [s["acc_norm"] for t in subtasks for s in _by_task(run["samples"], t)]
        # Size weighting of subtask means equals the mean over all documents pooled.
        assert m["value"] == pytest.approx(100.0 * sum(per_doc) / len(per_doc))
        assert m["n"] == len(per_doc)
    gpqa_sizes = sorted(v["n"] for v in run["record"]["metrics"]["gpqa"]["subtasks"].values())
    assert gpqa_sizes == [2, 5, 6]
    assert run["record"]["details"]["aggregation_mismatch"] == {}


def test_size_weighted_mean_and_summary_flag_a_disagreeing_group_value():
    assert runner.size_weighted_mean([1.0, 0.0], [3, 1]) == 0.75
    with pytest.raises(ValueError):
        runner.size_weighted_mean([1.0], [0])
    results = {
        "results": {"leaderboard_gpqa": {"acc_norm,none": 0.5, "acc_norm_stderr,none": 0.1},
                    "a": {"acc_norm,none": 1.0}, "b": {"acc_norm,none": 0.0}},
        "group_subtasks": {"leaderboard_gpqa": ["a", "b"]},
        "n-samples": {"a": {"effective": 3, "original": 3}, "b": {"effective": 1, "original": 1}},
        "versions": {"a": 1.0, "b": 1.0}, "n-shot": {"leaderboard_gpqa": 0},
    }
    metrics, details = runner.summarise(results, {"gpqa": "leaderboard_gpqa"})
    assert metrics["gpqa"]["value"] == 75.0 and metrics["gpqa"]["n"] == 4
    assert details["aggregation_mismatch"]["leaderboard_gpqa"] == {"lm_eval": 0.5, "size_weighted": 0.75}


class _ScriptedCoder:
    """An lm-eval LM that answers each MBPP prompt with a fixed program for the problem it shows."""

    def __new__(cls, programs: dict[str, str]):
        from lm_eval.api.model import LM

        class Coder(LM):
            def loglikelihood(self, requests):
                raise NotImplementedError

            def loglikelihood_rolling(self, requests):
                raise NotImplementedError

            def generate_until(self, requests):
                outs = []
                for req in requests:
                    context = req.args[0]
                    tail = context[context.rindex("You are an expert Python programmer"):]
                    outs.append(next(code for first_test, code in programs.items() if first_test in tail))
                return outs

        return Coder()


@pytest.mark.parametrize("correct", [True, False])
def test_mbpp_twin_scores_a_known_correct_program_100_and_a_wrong_one_0(run, correct):
    import lm_eval
    from lm_eval.tasks import TaskManager

    rows = [json.loads(line) for line in (run["root"] / "twins/data/mbpp/test.jsonl").read_text().splitlines()]
    programs = {r["test_list"][0]: r["code"] if correct else r["code"].replace("return", "return None and", 1)
                for r in rows}
    runner.SANDBOX_STATUS.clear()
    res = lm_eval.simple_evaluate(model=_ScriptedCoder(programs), tasks=["mbpp_twin"], confirm_run_unsafe_code=True,
                                  task_manager=TaskManager(include_path=str(run["root"] / "twins/tasks"),
                                                           include_defaults=False))
    assert res["results"]["mbpp_twin"]["pass_at_1,none"] == (1.0 if correct else 0.0)
    assert runner.SANDBOX_STATUS["passed" if correct else "failed"] == len(rows)


def test_missing_model_directory_is_a_clear_error(tmp_path, run):
    with pytest.raises(FileNotFoundError, match="config.json"):
        runner.run_lm_eval(tmp_path, f"twins:{run['root'] / 'twins'}", tmp_path / "x" / "lm_eval.json")


def test_a_32b_evaluation_splits_vllm_over_its_jobs_gpus_with_the_configs_model_args(monkeypatch):
    """lm-eval's vLLM backend defaults to one GPU: a 32B model's eval job passes its GPUs as tensor parallelism."""
    import copy

    import torch

    from gift import grid as G
    from gift.grid.evals import eval_argv
    from gift.grid.resources import job_gpus

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # the machine running the test has no GPUs
    config = copy.deepcopy(G.load_config(Path(__file__).parents[1] / "config" / "paper.yaml"))
    config["evaluation"]["lm_eval"]["model_args"] = {"max_model_len": 4096, "gpu_memory_utilization": 0.85}
    grid = G.expand(config)
    built = {}
    for model_id, model in grid.models.items():
        if "lm_eval" in model.evals:
            argv = eval_argv(grid, model_id, "lm_eval")
            args = runner._parser().parse_args(argv[1:])
            built[model.backbone] = runner.lm_eval_model_args(
                "m", "vllm", args.device, tensor_parallel_size=args.tensor_parallel_size, model_args=args.model_args)
    assert {"qwen2.5-7b-instruct", "qwen2.5-32b-instruct"} <= set(built)
    for backbone, args in built.items():
        # independent of the argv: the Slurm resources of the backbone's eval job
        assert args["tensor_parallel_size"] == job_gpus(config, backbone, "eval"), backbone
        assert args["max_model_len"] == 4096 and args["gpu_memory_utilization"] == 0.85
    assert built["qwen2.5-32b-instruct"]["tensor_parallel_size"] == 2


def test_evaluation_backend_reaches_every_eval_command():
    import copy

    from gift import grid as G
    from gift.grid.evals import eval_argv

    config = copy.deepcopy(G.load_config(Path(__file__).parents[1] / "config" / "rehearsal.yaml"))
    config["evaluation"]["backend"] = "vllm"
    grid = G.expand(config)
    argvs = [eval_argv(grid, m, e) for m, model in grid.models.items() for e in model.evals]
    assert {a[0] for a in argvs} == {"rlvr", "lm-eval", "alpaca", "arena-hard"}
    assert all(a[a.index("--backend") + 1] == "vllm" for a in argvs)
