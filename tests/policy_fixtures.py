"""Trainer-test inputs: a small random character-level policy, addition prompts, a length reward."""

from __future__ import annotations

import json
import random
from pathlib import Path

from gift.tiny.char_policy import build_char_policy

# Method arguments small enough for a CPU: two micro-batches of one group of 4, 8-token completions.
SMALL_METHOD_ARGS = {"num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
                     "max_completion_length": 8, "learning_rate": 1e-3}


def build_random_policy(out: Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    return build_char_policy(out, hidden=hidden, layers=layers, seed=seed, max_positions=256)


def write_addition_prompts(path: Path, n: int = 16, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        rows.append({"id": f"add-{i}", "dataset": "gsm8k", "reward": "gsm8k", "ground_truth": str(a + b),
                     "prompt": [{"role": "user", "content": f"{a}+{b}=? Answer as #### n"}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def length_reward(prompts, completions, **kwargs):
    """A reward that varies within groups even for a random policy: completion length mod 3."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [float(len(t) % 3) for t in texts]


def completion_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    """Per-token log-probs of the completions, computed independently of TRL (positions from the mask)."""
    import torch

    input_ids = torch.cat([prompt_ids, completion_ids], 1)
    attention = torch.cat([prompt_mask, completion_mask], 1)
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention, position_ids=position_ids).logits
    logits = logits[:, prompt_ids.shape[1] - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)


BOS = "<s>"


def build_bos_policy(out: Path, seed: int = 0, hidden: int = 64, heads: int = 2,
                     generation_config: dict | None = None, init_std: float = 0.5) -> Path:
    """A random character-level Qwen2 policy whose chat template begins with the BOS token and whose tokenizer
    also prepends BOS when asked for special tokens (as Llama's and DeepSeek's do); head dim hidden / heads (vLLM's
    CPU attention takes 32 and 64); weights drawn wide (`init_std`) so that greedy completions vary. `generation_config` is saved as the model's generation_config.json."""
    import string

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from gift.tiny.build import CHAT_TEMPLATE, EOS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS

    vocab = {t: i for i, t in enumerate([BOS, *SPECIAL_TOKENS, *string.printable])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=PAD_TOKEN))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)
    fast.chat_template = "{{- bos_token }}" + CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=heads, num_key_value_heads=1, max_position_embeddings=512,
                      bos_token_id=vocab[BOS], eos_token_id=vocab[EOS_TOKEN], pad_token_id=vocab[PAD_TOKEN],
                      tie_word_embeddings=True, initializer_range=init_std)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(**{"bos_token_id": vocab[BOS], "eos_token_id": vocab[EOS_TOKEN],
                                                  **(generation_config or {})})
    model.save_pretrained(out)
    return out
