"""Arena-Hard v2 judges: verdict parsing of untrusted judgments, the judge prompts, the API judge and the
offline reward-model judge."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gift.evals.judge_client import ChatClient, message_text

VERDICT_PATTERN = re.compile(r"\[\[([AB<>=]+)\]\]")
VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
_VERDICT_ALIASES = {"A>>B": "A>>B", "A>B": "A>B", "A=B": "A=B", "B=A": "A=B", "B>A": "B>A", "B>>A": "B>>A",
                    "B<<A": "A>>B", "B<A": "A>B", "A<B": "B>A", "A<<B": "B>>A"}


def parse_verdict(judgment: Any) -> str | None:
    """The verdict label of an Arena-Hard judgment, or None (unparsable, or several different verdicts)."""
    if not isinstance(judgment, str):
        return None
    found = {_VERDICT_ALIASES.get(m.strip()) for m in VERDICT_PATTERN.findall(judgment.replace(" ", ""))}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def load_arena_prompts(path: str | os.PathLike) -> dict:
    """The judge prompts (system prompt per category and the user template) (`gift/assets/arena_hard/judge_prompts.yaml` by default)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for key in ("template", "system"):
        if key not in data:
            raise ValueError(f"{path}: judge prompt file has no {key!r} field")
    return data


@dataclass
class ArenaJudge:
    """Base of the Arena-Hard judges: `judge(items)` returns one raw judgment text per (question, A, B)."""

    name: str = "judge"
    stats: dict = field(default_factory=dict)


class ApiArenaJudge(ArenaJudge):
    """Arena-Hard judge through an OpenAI-compatible API, prompts from `gift/assets/arena_hard/`."""

    def __init__(self, client: ChatClient, prompts: dict, temperature: float = 0.0, max_tokens: int = 16000) -> None:
        super().__init__(name=f"api:{client.model}")
        self.client, self.prompts = client, prompts
        self.temperature, self.max_tokens = temperature, max_tokens

    def judge(self, items: Sequence[tuple[str, str, str, str]], progress: bool = True) -> list[str | None]:
        """items: (category, question, answer_a, answer_b)."""
        from tqdm.auto import tqdm

        out: list[str | None] = []
        for category, question, a, b in tqdm(list(items), desc="arena judge", disable=not progress):
            system = self.prompts["system"].get(category) or self.prompts["system"].get("default")
            if system is None:
                raise ValueError(f"judge prompts have no system prompt for category {category!r} nor 'default'")
            user = (self.prompts["template"].replace("{QUESTION}", question).replace("{ANSWER_A}", a)
                    .replace("{ANSWER_B}", b))
            response = self.client.complete([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                            temperature=self.temperature, max_tokens=self.max_tokens)
            out.append(message_text(response))
        return out


class RewardModelArenaJudge(ArenaJudge):
    """Offline Arena-Hard judge: the reward-score difference d = s(B) - s(A) mapped to a verdict string.

    |d| < tie_margin: A=B; tie_margin <= |d| < strong_margin: a plain win; |d| >= strong_margin: a strong win.
    """

    def __init__(self, scorer: Any, name: str = "reward-model", tie_margin: float = 0.1,
                 strong_margin: float = 1.0) -> None:
        super().__init__(name=name)
        if not 0 <= tie_margin < strong_margin:
            raise ValueError("need 0 <= tie_margin < strong_margin")
        self.scorer, self.tie_margin, self.strong_margin = scorer, tie_margin, strong_margin

    def verdict_of(self, d: float) -> str | None:
        if not math.isfinite(d):
            return None
        if abs(d) < self.tie_margin:
            return "A=B"
        strong = abs(d) >= self.strong_margin
        if d > 0:
            return "B>>A" if strong else "B>A"
        return "A>>B" if strong else "A>B"

    def judge(self, items: Sequence[tuple[str, str, str, str]], progress: bool = True) -> list[str | None]:
        items = list(items)
        prompts = [[{"role": "user", "content": q}] for _, q, _, _ in items]
        s_a = self.scorer(prompts, [a for _, _, a, _ in items])
        s_b = self.scorer(prompts, [b for _, _, _, b in items])
        out: list[str | None] = []
        for a, b in zip(s_a, s_b, strict=True):
            v = self.verdict_of(b - a)
            out.append(None if v is None else f"score_A={a:.6g} score_B={b:.6g}\n\nMy final verdict is: [[{v}]]")
        return out
