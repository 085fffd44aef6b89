"""Tiny models built by code, so that the smoke, tiny and rehearsal configs need no hub.

- `build`: sizes, the data, a BPE tokenizer with a Qwen chat template, the Qwen2 config, a cached build;
- `backbone`: a Qwen2 policy warm-started into a target pass@1 band (`gift build tiny-backbone`);
- `reward_model`: a Bradley-Terry reward model (`gift build tiny-reward-model`);
- `char_policy`: a random Qwen2 policy with a character-level tokenizer, for benchmarks and tests;
- `model_cache`: a content-addressed cache of built tiny models shared by every results directory.
"""
