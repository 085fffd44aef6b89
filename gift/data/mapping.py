"""Map raw rows (hub, local copy or synthetic twin, all in the hub schema) to prepared examples."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gift.answer_rules import hendrycks_last_boxed
from gift.data.registry import DatasetSpec
from gift.rewards import extract_boxed, normalize_number

_CALCULATOR = re.compile(r"<<[^>]*>>")


class SchemaError(ValueError):
    """Raw rows that lack columns the dataset's mapping needs."""


def _get(row: dict, dotted: str):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def missing_columns(row: dict, columns: Iterable[str]) -> list[str]:
    """The required (possibly nested, 'a.b') columns absent from `row`."""
    missing = []
    for col in columns:
        try:
            _get(row, col)
        except KeyError:
            missing.append(col)
    return missing


def check_columns(spec: DatasetSpec, rows: list[dict], where: str) -> None:
    """Raise SchemaError naming the dataset, `where` the rows came from, and the missing columns."""
    if not rows:
        return
    missing = missing_columns(rows[0], spec.columns)
    if missing:
        present = ", ".join(sorted(rows[0])) or "none"
        raise SchemaError(f"dataset {spec.name!r} ({where}): missing column(s) {', '.join(missing)}; "
                          f"expected {', '.join(spec.columns)}; found {present}")


def _user(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


def _with_suffix(text: str, suffix: str) -> str:
    return f"{text.strip()} {suffix}" if suffix else text.strip()


def _chat_prompt(prompt) -> list[dict]:
    if isinstance(prompt, str):
        return _user(prompt)
    messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    if not messages:
        raise ValueError("empty prompt")
    return messages


def map_row(spec: DatasetSpec, row: dict) -> dict:
    """One prepared example (without its id) from one raw row of dataset `spec`.

    Raises ValueError when the row cannot yield a prompt and ground truth (counted by the caller).
    """
    name = spec.name
    if name == "gsm8k":
        answer = str(row["answer"])
        _, sep, final = answer.rpartition("####")
        if not sep:
            raise ValueError("answer has no '####'")
        truth = normalize_number(final)
        if truth is None:
            raise ValueError(f"final answer {final.strip()!r} is not a number")
        # GSM8K's <<calculator>> annotations are not part of the reasoning a model should imitate.
        reference = _CALCULATOR.sub("", answer).strip()
        reference = reference[: reference.rfind("####")] + f"#### {truth}"
        return {"prompt": _user(_with_suffix(row["question"], spec.prompt_suffix)), "ground_truth": truth,
                "reward": spec.reward, "reference": reference}
    if name == "math":
        # verl's preprocessing takes the ground truth with the MATH rule's own box reader (its reward's
        # answers are compared against exactly that string); the general reader covers what it cannot read
        solution = str(row["solution"])
        truth = hendrycks_last_boxed(solution)
        if not truth or not truth.strip():
            truth = extract_boxed(solution)
        if truth is None:
            raise ValueError("solution has no \\boxed{}")
        return {"prompt": _user(_with_suffix(row["problem"], spec.prompt_suffix)), "ground_truth": truth,
                "reward": spec.reward, "reference": str(row["solution"]),
                "level": row.get("level"), "type": row.get("type")}
    if name in ("dapo_math", "aime2024"):
        truth = str(row["reward_model"]["ground_truth"]).strip()
        if not truth:
            raise ValueError("empty ground truth")
        out = {"prompt": _chat_prompt(row["prompt"]), "ground_truth": truth, "reward": spec.reward}
        extra = row.get("extra_info") or {}
        if isinstance(extra, dict) and extra.get("solution"):
            out["reference"] = str(extra["solution"])
        return out
    if name == "infinity_instruct":
        turns = row["conversations"]
        roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
        messages = [{"role": roles.get(str(t.get("from", t.get("role"))), "user"),
                     "content": str(t.get("value", t.get("content", "")))} for t in turns]
        if not messages:
            raise ValueError("empty conversation")
        out: dict = {"ground_truth": None, "reward": spec.reward}
        if messages[-1]["role"] == "assistant":
            out["reference"] = messages[-1]["content"]
            messages = messages[:-1]
        if not messages or messages[-1]["role"] != "user":
            raise ValueError("conversation does not end with a user turn before the response")
        out["prompt"] = messages
        return out
    if name == "numina_distill":
        truth = str(row["reward_model"]["ground_truth"]).strip()
        if not truth:
            raise ValueError("empty ground truth")
        extra = row["extra_info"]
        teachers = extra.get("model_answer") or []
        if isinstance(teachers, str):
            teachers = [teachers]
        return {"prompt": _chat_prompt(row["prompt"]), "ground_truth": truth, "reward": spec.reward,
                "expert": str(extra["answer"]), "teachers": [str(t) for t in teachers]}
    raise ValueError(f"no mapping for dataset {name!r}")


def prompt_key(example: dict) -> str:
    """What makes two examples the same problem (for deduplication)."""
    return "\x00".join(m["content"] for m in example["prompt"])


def map_rows(spec: DatasetSpec, split: str, rows: list[dict]) -> tuple[list[dict], dict]:
    """Prepared examples of one split, with ids, deduplicated where the dataset repeats rows.

    Returns (examples, counts) where counts has raw, unmappable and duplicates.
    """
    examples, seen = [], set()
    counts = {"raw": len(rows), "unmappable": 0, "duplicates": 0}
    first_error = None
    for row in rows:
        try:
            ex = map_row(spec, row)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            counts["unmappable"] += 1
            first_error = first_error or f"{type(err).__name__}: {err}"
            continue
        if spec.dedupe:
            key = prompt_key(ex)
            if key in seen:
                counts["duplicates"] += 1
                continue
            seen.add(key)
        examples.append(ex)
    out = []
    for i, ex in enumerate(examples):
        out.append({"id": f"{spec.name}-{split}-{i:05d}", "dataset": spec.name,
                    **{k: v for k, v in ex.items() if v is not None or k == "ground_truth"}})
    if first_error:
        counts["first_error"] = first_error
    return out, counts
