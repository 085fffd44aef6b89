"""Run GIFTTrainer on several CPU processes and record, per rank, the groups each loss call saw."""

import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from gift.files import read_jsonl
from gift.trainers import GIFTConfig, GIFTTrainer, assert_whole_groups
from tests.policy_fixtures import length_reward

policy, data, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
N = 4
args = GIFTConfig(output_dir=str(out / "trainer"), num_generations=N, per_device_train_batch_size=2 * N,
                  gradient_accumulation_steps=2, max_completion_length=6, max_steps=2, learning_rate=1e-3,
                  report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False, save_strategy="no",
                  seed=0, disable_tqdm=True)
trainer = GIFTTrainer(model=AutoModelForCausalLM.from_pretrained(policy), reward_funcs=[length_reward], args=args,
                      train_dataset=Dataset.from_list(read_jsonl(data)),
                      processing_class=AutoTokenizer.from_pretrained(policy))
seen = []


def observe(inputs, explicit, implicit, loss, group_size):
    assert_whole_groups(inputs["group_ids"], group_size)
    prompts = inputs["prompt_ids"].view(-1, group_size, inputs["prompt_ids"].shape[1])
    assert all(torch.equal(row, group[0]) for group in prompts for row in group), "a group mixes prompts"
    seen.append({"group_ids": inputs["group_ids"].tolist(),
                 "prompts": [g[0][g[0] != trainer.processing_class.pad_token_id].tolist() for g in prompts]})


trainer.loss_observer = observe
trainer.train()
rank = PartialState().process_index
(out / f"rank{rank}.json").write_text(json.dumps({"world": PartialState().num_processes, "calls": seen}))
