"""A random Qwen2 policy with a character-level chat tokenizer: for benchmarks and tests, no hub needed."""

from __future__ import annotations

import string
from pathlib import Path

from gift.tiny.build import CHAT_TEMPLATE, EOS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS


def build_char_policy(out: str | Path, hidden: int = 32, layers: int = 2, heads: int = 2, kv_heads: int = 1,
                      seed: int = 0, max_positions: int = 1024, intermediate: int | None = None,
                      vocab_size: int | None = None, dtype: str = "float32",
                      tie_word_embeddings: bool = True) -> Path:
    """Save a randomly initialised Qwen2ForCausalLM and its tokenizer (one token per printable character).

    `vocab_size` pads the vocabulary with filler tokens (`<unused_i>`) to a real model's size, so that the
    embedding, head and logits weigh what they do in that model; `intermediate` defaults to 2 x hidden."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    tokens = [*SPECIAL_TOKENS, *string.printable]
    tokens += [f"<unused_{i}>" for i in range(max(0, (vocab_size or 0) - len(tokens)))]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=PAD_TOKEN))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                      max_position_embeddings=max_positions, eos_token_id=vocab[EOS_TOKEN], pad_token_id=0,
                      tie_word_embeddings=tie_word_embeddings)
    Qwen2ForCausalLM(cfg).to(getattr(torch, dtype)).save_pretrained(out)
    return out
