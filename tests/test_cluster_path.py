"""The paper path's GPU-cluster seams, checked on a CPU: where generation runs, what loads when, who writes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

from gift.files import read_jsonl
from tests.policy_fixtures import SMALL_METHOD_ARGS

ROOT = Path(__file__).resolve().parents[1]
SMALL = SMALL_METHOD_ARGS


def _chat(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"{i}+1=?"}] for i in range(n)]


# ---- evaluation generation: on the GPU, through vLLM when installed -------------------------------------


class _FakeVLLM:
    """Stands in for the vllm package (no GPU here): records the engine's arguments and the sampling calls."""

    def __init__(self):
        self.engines: list[dict] = []
        self.calls: list[tuple[list[str], dict]] = []
        fake = self

        class LLM:
            def __init__(self, **kwargs):
                fake.engines.append(kwargs)

            def generate(self, texts, params):
                fake.calls.append((list(texts), params))
                return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"answer {i}")
                                                       for _ in range(params["n"])]) for i in range(len(texts))]

        self.module = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw)


def test_benchmark_answers_go_through_one_tensor_parallel_vllm_engine_when_installed(policy_dir, monkeypatch):
    import torch

    import gift.generation as generation
    from gift.evals.alpaca_eval import evaluate as alpaca

    fake = _FakeVLLM()
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    monkeypatch.setattr(generation, "vllm_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(generation, "_ENGINES", {})
    gen = alpaca._load_generator(str(policy_dir))  # what `gift eval alpaca` answers with
    out = gen(_chat(3), {"temperature": 1.0, "max_new_tokens": 16, "batch_size": 2, "seed": 0, "greedy": True})
    out += gen(_chat(2), {"temperature": 1.0, "max_new_tokens": 16, "batch_size": 2, "seed": 0, "greedy": True})
    assert out == ["answer 0", "answer 1", "answer 2", "answer 0", "answer 1"]
    assert len(fake.engines) == 1, "one engine per model, not one per call"
    assert fake.engines[0]["model"] == str(policy_dir) and fake.engines[0]["tensor_parallel_size"] == 4
    assert [c[1]["temperature"] for c in fake.calls] == [0.0, 0.0] and fake.calls[0][1]["max_tokens"] == 16


def test_without_vllm_the_evaluated_model_is_placed_on_this_ranks_device(policy_dir, monkeypatch):
    import torch

    import gift.distributed
    from gift.generation import load_model

    # "meta" stands in for cuda:<LOCAL_RANK>: a device the model must be moved to, which exists on a CPU
    monkeypatch.setattr(gift.distributed, "local_device", lambda: "meta")
    model, _ = load_model(policy_dir)
    assert {p.device.type for p in model.parameters()} == {"meta"}
    monkeypatch.undo()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert gift.distributed.local_device() == "cuda:3"


# ---- periodic eval during training: the trainer's engine, or gathered weights; never a bare sharded generate --


def _tiny_trainer(policy_dir, prompts, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gift.trainers import GIFTConfig, GIFTTrainer
    from tests.policy_fixtures import length_reward

    args = GIFTConfig(output_dir=str(tmp_path / "t"), **SMALL, max_steps=1, report_to="none", use_cpu=True,
                      bf16=False, gradient_checkpointing=False, save_strategy="no", disable_tqdm=True)
    tok = AutoTokenizer.from_pretrained(policy_dir)
    trainer = GIFTTrainer(model=AutoModelForCausalLM.from_pretrained(policy_dir), reward_funcs=[length_reward],
                          args=args, train_dataset=Dataset.from_list(read_jsonl(prompts)), processing_class=tok)
    return trainer, tok


def test_periodic_eval_generates_inside_the_trainers_parameter_gathering(policy_dir, prompts, tmp_path):
    from gift.generation import generate, trainer_generate

    trainer, tok = _tiny_trainer(policy_dir, prompts, tmp_path)
    state = {"gathered": False, "calls": 0}

    @contextlib.contextmanager
    def summon_full_params(module, recurse=True):  # FSDP's gather of the sharded weights
        state["gathered"] = True
        yield
        state["gathered"] = False

    model = trainer.model_wrapped
    original = model.generate

    def checked_generate(*args, **kwargs):
        assert state["gathered"], "generate ran on the sharded model"
        state["calls"] += 1
        return original(*args, **kwargs)

    model.generate = checked_generate
    trainer._dist = types.SimpleNamespace(summon_full_params=summon_full_params)
    prompts_ = _chat(5)
    got = trainer_generate(trainer, tok, prompts_, n=2, greedy=True, max_new_tokens=6, batch_size=2)
    assert state["calls"] == 3  # 5 prompts in chunks of 2
    model.generate = original
    want = generate(model, tok, prompts_, n=2, greedy=True, max_new_tokens=6, batch_size=2, backend="hf")
    assert got == want


def test_periodic_eval_uses_the_trainers_vllm_engine_with_synced_weights(policy_dir, prompts, tmp_path):
    from gift.generation import trainer_generate

    trainer, tok = _tiny_trainer(policy_dir, prompts, tmp_path)
    log: list = []

    class Engine:  # the attributes of TRL's VLLMGeneration that the periodic eval sets and restores
        temperature, top_p, max_completion_length = 1.0, 1.0, 8
        top_k, min_p, repetition_penalty, tensor_parallel_size = -1, None, 1.1, 1
        generation_kwargs: dict = {}

        def sync_weights(self):
            log.append("sync")

        def generate(self, prompts, images, num_generations):
            # colocated TRL: one vLLM request per prompt row, `generation_kwargs["n"]` samples each, flattened
            n = self.generation_kwargs.get("n", 1)
            log.append((self.temperature, self.max_completion_length, n, len(prompts), self.generation_kwargs.get("seed")))
            ids = tok("ok", add_special_tokens=False)["input_ids"]
            return prompts, [ids + [i] for i in range(len(prompts) * n)], None, None

    trainer.use_vllm = True
    trainer.vllm_generation = Engine()
    trainer._last_loaded_step = -1
    out = trainer_generate(trainer, tok, _chat(3), n=4, temperature=0.7, max_new_tokens=32, seed=5)
    assert log == ["sync", (0.7, 32, 4, 3, 5)], "one seeded request of 4 samples per prompt"
    assert len(out) == 3 and all(len(o) == 4 for o in out)
    trainer_generate(trainer, tok, _chat(2), n=4, greedy=True, max_new_tokens=32)
    assert log[2][:4] == (0.0, 32, 1, 2), "greedy: temperature 0, one sample; weights not re-synced at the same step"
    eng = trainer.vllm_generation
    assert (eng.temperature, eng.max_completion_length) == (1.0, 8), "the rollout settings are restored"
    assert (eng.top_k, eng.min_p, eng.repetition_penalty, eng.generation_kwargs) == (-1, None, 1.1, {})


def test_transformers_rollouts_generate_in_bounded_chunks_of_whole_groups(policy_dir, prompts, tmp_path):
    from gift.generation import bound_rollout_chunks

    trainer, tok = _tiny_trainer(policy_dir, prompts, tmp_path)
    sizes: list[int] = []
    original = trainer._generate_single_turn

    def spy(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        sizes.append(len(prompt_ids))
        return original(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)

    trainer._generate_single_turn = spy
    bound_rollout_chunks(trainer, max_rows=6)  # 6 rows -> one whole group of 4 per call
    rows = [tok("1+2=?")["input_ids"]] * 4 + [tok("3+4=?")["input_ids"]] * 4 + [tok("5+5=?")["input_ids"]] * 4
    ids, logprobs = trainer._generate_single_turn(rows, None, {}, 4)
    assert sizes == [4, 4, 4] and len(ids) == 12 and logprobs is None
    assert trainer.rollout_chunk_rows == 4


# ---- the reward model loads whole before ZeRO-3 is switched on ---------------------------------------------


def _tiny_reward_model(policy_dir: Path, out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(policy_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id)
    LlamaForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_reward_model_loads_before_the_trainer_config_turns_zero3_on(policy_dir, prompts, tmp_path, monkeypatch):
    """Building a trainer config under a ZeRO-3 launch registers a DeepSpeed config with transformers; any
    from_pretrained after that goes through zero.Init. The fake registered here is what TrainingArguments
    registers; a reward model loaded after it fails (zero.Init needs deepspeed) or comes up partitioned."""
    from transformers.integrations import deepspeed as hf_ds

    from gift.run.train import train

    rm = _tiny_reward_model(policy_dir, tmp_path / "rm")
    class Zero3:
        def is_zero3(self):
            return True

    zero3 = Zero3()  # transformers keeps a weak reference
    from gift.trainers import registry

    real = registry.TRAINERS["gift"]

    class Zero3Config(real.config):
        def __post_init__(self):
            super().__post_init__()
            hf_ds.set_hf_deepspeed_config(zero3)

    def trainer_stops_here(*args, **kwargs):
        raise RuntimeError("stop: the trainer would be built now")

    seen: list[bool] = []
    import gift.rewards

    real_scorer = gift.rewards.RewardModelScorer.__init__

    def scorer(self, *args, **kwargs):
        seen.append(hf_ds.is_deepspeed_zero3_enabled())
        real_scorer(self, *args, **kwargs)

    monkeypatch.setitem(registry.TRAINERS, "gift", registry.MethodClasses(Zero3Config, real.trainer))
    monkeypatch.setattr(gift.rewards.RewardModelScorer, "__init__", scorer)
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", trainer_stops_here)
    try:
        with pytest.raises(RuntimeError, match="stop: the trainer"):
            train({"run_id": "rm", "method": "gift", "model": str(policy_dir), "train_data": str(prompts),
                   "reward": "reward_model", "reward_model": str(rm), "output_dir": str(tmp_path / "run"),
                   "max_steps": 1, "method_args": dict(SMALL)})
    finally:
        hf_ds.unset_hf_deepspeed_config()
    assert seen == [False]


def test_a_partitioned_reward_model_is_refused_with_the_reason(policy_dir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from gift.rewards import RewardModelScorer

    rm = _tiny_reward_model(policy_dir, tmp_path / "rm")
    model = AutoModelForSequenceClassification.from_pretrained(rm)
    scorer = RewardModelScorer(model, AutoTokenizer.from_pretrained(rm), length_normalize=False)
    assert len(scorer.raw_scores(["hi"], ["there"])) == 1
    with torch.no_grad():
        model.score.weight = torch.nn.Parameter(torch.empty(0))  # what zero.Init leaves on each rank
    with pytest.raises(RuntimeError, match="partitioned.*before the trainer config"):
        RewardModelScorer(model, AutoTokenizer.from_pretrained(rm))


# ---- two ranks: only rank 0 writes the run directory's shared files -----------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_write_one_run_directory_and_set_a_replaced_run_aside_once(policy_dir, prompts, tmp_path):
    out = tmp_path / "runs" / "r"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1"}

    def launch(lr: float) -> None:
        logs = tmp_path / f"logs-{lr}"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
               "127.0.0.1", "--master_port", str(_free_port()), "--log-dir", str(logs), "--redirects", "3",
               str(ROOT / "tests/scripts/distributed_train.py"), str(policy_dir), str(prompts), str(out), str(lr)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            ranks = "\n".join(f"--- {f}\n{f.read_text()[-3000:]}" for f in sorted(logs.rglob("std*.log")))
            raise AssertionError(f"{proc.stderr[-2000:]}\n{ranks}")

    launch(1e-3)
    launch(2e-3)  # another config: the first run is set aside (by one rank) and the run starts again
    replaced = list((tmp_path / "runs" / ".replaced").iterdir())
    assert len(replaced) == 1 and (replaced[0] / "DONE").exists()
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2], "one metrics row per step, written once"
    # the eval set (8 prompts) is split between the ranks and gathered: every prompt is counted once
    assert rows[0]["eval_n"] == 8 and rows[2]["eval_n"] == 8
    assert json.loads((out / "manifest.json").read_text())["config"]["method_config"]["learning_rate"] == 2e-3
    assert (out / "final" / "config.json").exists() and (out / "final" / "tokenizer_config.json").exists()
    assert (out / "DONE").exists() and not (out / ".final.tmp").exists()
    assert (out / "train.log").exists() and (out / "train.rank1.log").exists()
