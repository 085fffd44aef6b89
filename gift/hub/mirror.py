"""A local hub mirror: the paper's hub ids served from a Hugging Face cache built here, for a rehearsal on a CPU.

Every hub model a config names becomes a small random model of the architecture class the config's
`mirror.architectures` gives it (LlamaForCausalLM for DeepSeek-LLM-7B-Chat, Qwen2ForCausalLM for Qwen2.5,
Qwen3ForCausalLM for Qwen3, Qwen3MoeForCausalLM for Qwen3-30B-A3B, LlamaForSequenceClassification for the
Skywork reward model), saved as a
hub-format directory under the cache's snapshots at the config's revision. Every hub dataset becomes its
synthetic twin's raw rows as parquet files in the hub repository's layout (a README with its configs). The
jobs then load them exactly as they load the real ones: hub id + revision, through the hub cache, offline.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from gift import grid as gift_grid
from gift.cli import HelpFormatter

ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
                 "LlamaForSequenceClassification")
DEFAULT_SIZE = {"hidden": 32, "layers": 2, "heads": 2, "kv_heads": 1, "max_positions": 1024}


def commit_of(repo: str, revision: str | None) -> str:
    """The snapshot name: the revision when it is a commit hash, else a stable hash standing in for one."""
    rev = revision or "main"
    if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev):
        return rev
    return hashlib.sha1(f"{repo}@{rev}".encode()).hexdigest()


def _snapshot_dir(cache: Path, kind: str, repo: str, revision: str | None) -> Path:
    root = cache / f"{kind}--{repo.replace('/', '--')}"
    commit = commit_of(repo, revision)
    if commit != (revision or "main"):
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / (revision or "main")).write_text(commit)
    return root / "snapshots" / commit


def _model(arch: str, vocab: int, eos: int, pad: int, size: dict):
    import torch
    import transformers

    if arch not in ARCHITECTURES:
        raise gift_grid.ConfigError(f"mirror.architectures: {arch!r} is not one of {', '.join(ARCHITECTURES)}")
    family = {"Llama": "LlamaConfig", "Qwen2": "Qwen2Config", "Qwen3": "Qwen3Config", "Qwen3Moe": "Qwen3MoeConfig"}[
        arch.removesuffix("ForCausalLM").removesuffix("ForSequenceClassification")]
    cfg_cls = getattr(transformers, family)
    kwargs = {"vocab_size": vocab, "hidden_size": size["hidden"], "intermediate_size": 2 * size["hidden"],
              "num_hidden_layers": size["layers"], "num_attention_heads": size["heads"],
              "num_key_value_heads": size["kv_heads"], "max_position_embeddings": size["max_positions"],
              "eos_token_id": eos, "pad_token_id": pad, "tie_word_embeddings": True}
    if family in ("Qwen3Config", "Qwen3MoeConfig"):
        kwargs["head_dim"] = size["hidden"] // size["heads"]
    if family == "Qwen3MoeConfig":
        # a mixture of experts in miniature: 4 experts, 2 routed per token
        kwargs.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=size["hidden"])
    if arch.endswith("ForSequenceClassification"):
        kwargs.update(num_labels=1, tie_word_embeddings=False)
    torch.manual_seed(0)
    return getattr(transformers, arch)(cfg_cls(**kwargs))


def build_mirror(config: dict, hf_home: str | Path, seed: int = 0) -> list[str]:
    """Write every hub model and dataset `config` needs into `hf_home`'s hub cache; returns what was written."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml
    from transformers import AutoTokenizer

    from gift.data.prepare import load_raw
    from gift.data.registry import REGISTRY
    from gift.hub.fetch import needs
    from gift.tiny.char_policy import build_char_policy

    spec = config.get("mirror") or {}
    archs = spec.get("architectures") or {}
    size = {**DEFAULT_SIZE, **(spec.get("size") or {})}
    cache = Path(hf_home) / "hub"
    work = Path(hf_home) / "build"
    tok_dir = build_char_policy(work / "tokenizer", hidden=8, layers=1, max_positions=64)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    written = []
    for need in needs(config):
        if need.kind == "model":
            if need.source not in archs:
                raise gift_grid.ConfigError(f"mirror.architectures: no architecture for {need.source} ({need.name})")
            out = _snapshot_dir(cache, "models", need.source, need.revision)
            model = _model(archs[need.source], len(tok), tok.eos_token_id, tok.pad_token_id, size)
            model.save_pretrained(out)
            tok.save_pretrained(out)
            written.append(f"model {need.source} @ {need.revision}: {archs[need.source]} -> {out}")
        elif need.kind == "dataset":
            reg = REGISTRY[need.name]
            raw = load_raw(need.name, "synthetic", seed=seed)
            out = _snapshot_dir(cache, "datasets", need.source, need.revision)
            name = need.config or "default"
            folder = name if name != "default" else "data"
            files = []
            for split, hub_split in reg.splits.items():
                (out / folder).mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pylist(raw[split]), out / folder / f"{hub_split}-00000-of-00001.parquet")
                files.append({"split": hub_split, "path": f"{folder}/{hub_split}-*"})
            card = yaml.safe_dump({"configs": [{"config_name": name, "data_files": files}]}, sort_keys=False)
            (out / "README.md").write_text(f"---\n{card}---\nSynthetic twin of {need.source} (rehearsal mirror).\n")
            written.append(f"dataset {need.source} @ {need.revision} [{name}]: {sum(len(v) for v in raw.values())} "
                           f"rows -> {out}")
    return written


def cli(argv: list[str]) -> int:
    """Entry point of `gift build mirror`."""
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift build mirror", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a workflow config with a `mirror` section")
    parser.add_argument("--out", required=True, help="the HF_HOME to fill (its hub/ cache)")
    args = parser.parse_args(argv)
    try:
        config = gift_grid.load_checked(args.config)
        for line in build_mirror(config, args.out):
            print(line)
    except (gift_grid.ConfigError, OSError) as err:
        print(f"gift build mirror: {args.config}: {err}", file=sys.stderr)
        return 2
    return 0


def rule_build_mirror(config: dict, hf_home: str, output: str, log: str) -> None:
    """The workflow's build_mirror rule: what was written, in the log and the output."""
    text = "\n".join(build_mirror(config, hf_home)) + "\n"
    for path in (log, output):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
