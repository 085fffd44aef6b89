"""`gift data prepare`: write a dataset's splits as prepared-example JSONL files."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gift.cli import HelpFormatter
from gift.data.loading import DataSourceError, load_hub, load_local
from gift.data.mapping import SchemaError, check_columns, map_rows
from gift.data.registry import REGISTRY, get_spec
from gift.data.synthetic import generate
from gift.files import write_json, write_jsonl
from gift.rewards import REWARD_KINDS, VERIFIABLE_KINDS

SOURCES = ("synthetic", "hub", "local")


def load_raw(name: str, source: str, path: str | None = None, seed: int = 0, config: str | None = None,
             revision: str | None = None) -> dict[str, list[dict]]:
    """Raw rows per prepared split of dataset `name` from `source` (synthetic, hub or local)."""
    spec = get_spec(name)
    if source == "synthetic":
        return generate(name, seed)
    if source == "hub":
        return load_hub(spec, config, revision)
    if source == "local":
        if not path:
            raise DataSourceError(f"dataset {name!r}: --source local needs --path")
        return load_local(spec, path)
    raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")


def check_reward(name: str, reward: str) -> None:
    """Raise ValueError unless `reward` can score dataset `name`: a verifiable reward for a dataset with
    ground truths, the reward model for one without."""
    default = get_spec(name).reward
    if reward not in REWARD_KINDS:
        raise ValueError(f"dataset {name!r}: unknown reward {reward!r}; choose one of {', '.join(REWARD_KINDS)}")
    if (reward in VERIFIABLE_KINDS) != (default in VERIFIABLE_KINDS):
        need = "a verifiable reward" if default in VERIFIABLE_KINDS else "reward_model"
        raise ValueError(f"dataset {name!r}: reward {reward!r} cannot score it; it needs {need} "
                         f"(its default is {default!r})")


def prepare(name: str, source: str, out_dir: str | Path, path: str | None = None, seed: int = 0,
            limits: dict[str, int] | None = None, config: str | None = None,
            revision: str | None = None, selection: int | None = None, reward: str | None = None) -> dict:
    """Prepare every split of dataset `name` into `out_dir/<split>.jsonl`; returns the summary.

    `reward` (default: the registry's) is written into every example: the RLVR evaluations score each
    example with the reward it names, so a config's `datasets.<name>.reward` reaches them this way.

    With `selection` N, the last N examples of the train split (after its limit) become `selection.jsonl`
    and leave the train split: a held-out split on which a sweep picks its values, apart from the eval
    split that the claims are judged on.

    Nothing is written unless every split maps to at least one example; each file is written
    atomically and `summary.json` last.
    """
    spec = get_spec(name)
    reward = reward or spec.reward
    check_reward(name, reward)
    limits = limits or {}
    unknown = set(limits) - set(spec.splits)
    if unknown:
        raise ValueError(f"dataset {name!r}: --limit names unknown split(s) {', '.join(sorted(unknown))}; "
                         f"splits are {', '.join(spec.splits)}")
    raw = load_raw(name, source, path, seed, config, revision)
    where = {"synthetic": "synthetic twin", "hub": f"hub {spec.hub_id}", "local": f"local copy {path}"}[source]
    prepared, summary = {}, {"dataset": name, "source": source, "seed": seed, "hub_id": spec.hub_id,
                             "config": config or spec.config, "revision": revision or spec.revision,
                             "reward": reward, "eval_split": spec.eval_split, "splits": {}}
    for split, rows in raw.items():
        if not rows:
            raise ValueError(f"dataset {name!r} ({where}): split {split!r} is empty")
        check_columns(spec, rows, f"{where}, split {split}")
        examples, counts = map_rows(spec, split, rows)
        if reward != spec.reward:
            examples = [{**ex, "reward": reward} for ex in examples]
        if split in limits:
            examples = examples[: limits[split]]
        if not examples:
            detail = f" (first error: {counts['first_error']})" if "first_error" in counts else ""
            raise ValueError(f"dataset {name!r} ({where}): split {split!r} has no usable example "
                             f"out of {counts['raw']} rows{detail}")
        prepared[split] = examples
        summary["splits"][split] = {**counts, "examples": len(examples),
                                    "mean_prompt_chars": round(sum(len(m["content"]) for e in examples
                                                                   for m in e["prompt"]) / len(examples), 1)}
    if selection:
        train = prepared.get("train")
        if train is None or len(train) <= selection:
            raise ValueError(f"dataset {name!r} ({where}): --selection {selection} needs a train split of more "
                             f"than {selection} examples (it has {0 if train is None else len(train)})")
        prepared["train"], prepared["selection"] = train[:-selection], train[-selection:]
        summary["splits"]["train"]["examples"] = len(prepared["train"])
        summary["splits"]["selection"] = {"from": "train", "examples": selection}
    out = Path(out_dir)
    for split, examples in prepared.items():
        write_jsonl(out / f"{split}.jsonl", examples)
    write_json(out / "summary.json", summary)
    return summary


def _parse_limits(items: list[str]) -> dict[str, int]:
    limits = {}
    for item in items:
        split, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit() or int(n) < 1:
            raise ValueError(f"--limit {item!r}: expected SPLIT=N with N a positive integer")
        limits[split.strip()] = int(n)
    return limits


def cli(argv: list[str]) -> int:
    """Entry point of `gift data prepare`."""
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter, prog="gift data prepare", description=__doc__)
    parser.add_argument("--dataset", required=True, choices=sorted(REGISTRY), help="which dataset (gift.data.registry)")
    parser.add_argument("--source", required=True, choices=SOURCES,
                        help="hub (the pinned hub dataset), local (a copy at --path) or synthetic (a twin in its schema)")
    parser.add_argument("--path", help="local copy: a directory with one file per split, or one file")
    parser.add_argument("--out", required=True, help="output directory (gets <split>.jsonl and summary.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic twin")
    parser.add_argument("--limit", nargs="*", default=[], metavar="SPLIT=N", help="keep the first N examples")
    parser.add_argument("--selection", type=int, help="hold out the last N train examples as selection.jsonl")
    parser.add_argument("--config", help="override the registry's hub config (e.g. Infinity-Instruct's subset)")
    parser.add_argument("--revision", help="override the registry's pinned revision")
    parser.add_argument("--reward", choices=REWARD_KINDS,
                        help="the reward written into every example (default: the dataset's, gift.data.registry)")
    args = parser.parse_args(argv)
    t0 = time.time()
    try:
        if args.selection is not None and args.selection < 1:
            raise ValueError(f"--selection {args.selection}: expected a positive number of examples")
        summary = prepare(args.dataset, args.source, args.out, args.path, args.seed, _parse_limits(args.limit),
                          args.config, args.revision, selection=args.selection, reward=args.reward)
    except (DataSourceError, SchemaError, ValueError) as err:
        print(f"gift data prepare: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.dataset} ({args.source}) -> {args.out}  [{time.time() - t0:.1f}s]")
    for split, s in summary["splits"].items():
        if "raw" not in s:
            print(f"  {split:<8} {s['examples']:>7} examples (held out from {s['from']})")
            continue
        extra = "".join(f", {k} {s[k]}" for k in ("duplicates", "unmappable") if s.get(k))
        print(f"  {split:<8} {s['examples']:>7} examples (from {s['raw']} rows{extra}), "
              f"mean prompt {s['mean_prompt_chars']} chars")
    return 0
