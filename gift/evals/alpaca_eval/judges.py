"""AlpacaEval 2 judges: the weighted API annotator (logprobs of 'm' / 'M') and the offline reward-model judge."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gift.evals.judge_client import ChatClient, first_token_logprobs, message_text
from gift.evals.judges import sigmoid


@dataclass
class PairwiseAnnotation:
    """One AlpacaEval judgment. `preference` in [1, 2] (2: the model's output wins), None if unparsable."""

    preference: float | None
    raw: str | None = None
    swapped: bool = False
    error: str | None = None


def alpaca_template_path() -> Path:
    """The official weighted_alpaca_eval_gpt4_turbo prompt, read from the installed alpaca_eval."""
    import alpaca_eval

    return Path(alpaca_eval.__file__).parent / "evaluators_configs" / "alpaca_eval_clf_gpt4_turbo" / \
        "alpaca_eval_clf.txt"


def _chatml_to_messages(prompt: str) -> list[dict]:
    messages = []
    for block in re.findall(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>", prompt, flags=re.S):
        messages.append({"role": block[0], "content": block[1].strip()})
    return messages


class ApiAlpacaJudge:
    """The weighted AlpacaEval annotator: one token, its logprobs over the identifiers 'm' / 'M'.

    Follows weighted_alpaca_eval_gpt4_turbo (prompt from the installed alpaca_eval, max_tokens 1,
    top 5 logprobs, preference = the probability mass on the model's identifier); the output order is
    randomised per instruction as alpaca_eval does, with the suite's own seeded hash.
    """

    def __init__(self, client: ChatClient, template_path: str | os.PathLike | None = None, seed: int = 0) -> None:
        self.client = client
        self.template = Path(template_path or alpaca_template_path()).read_text(encoding="utf-8")
        self.seed = seed
        self.name = f"api:{client.model}"

    def _swapped(self, instruction: str) -> bool:
        return hashlib.sha256(f"{self.seed}:{instruction}".encode()).digest()[0] % 2 == 1

    def annotate(self, instructions: Sequence[str], baseline_outputs: Sequence[str],
                 model_outputs: Sequence[str], progress: bool = True) -> list[PairwiseAnnotation]:
        from tqdm.auto import tqdm

        out = []
        for ins, base, mod in tqdm(list(zip(instructions, baseline_outputs, model_outputs, strict=True)),
                                   desc="alpaca judge", disable=not progress):
            swapped = self._swapped(ins)
            first, second = (mod, base) if swapped else (base, mod)
            prompt = (self.template.replace("{instruction}", ins).replace("{output_1}", first)
                      .replace("{output_2}", second))
            response = self.client.complete(_chatml_to_messages(prompt), max_tokens=1, temperature=1,
                                            logprobs=True, top_logprobs=5)
            out.append(parse_alpaca_response(response, swapped))
        return out


def parse_alpaca_response(response: Any, swapped: bool) -> PairwiseAnnotation:
    """Preference from a weighted-annotator response; falls back to the text 'm'/'M', else unparsable."""
    raw = message_text(response)
    lp = first_token_logprobs(response)
    p_first: float | None = None
    if lp and ("m" in lp or "M" in lp):
        a, b = lp.get("m", -math.inf), lp.get("M", -math.inf)
        # a NaN or positive log-probability, or none finite, is a broken answer: counted, not a NaN preference
        if any(math.isnan(x) or x > 1e-6 for x in (a, b)) or max(a, b) == -math.inf:
            return PairwiseAnnotation(None, raw, swapped,
                                      error=f"invalid log-probabilities for 'm'/'M' ({a!r}, {b!r}) in the judge's answer")
        top = max(a, b)
        p_first = math.exp(a - top) / (math.exp(a - top) + math.exp(b - top))
    elif raw is not None and raw.strip() in {"m", "M"}:
        p_first = 1.0 if raw.strip() == "m" else 0.0
    if p_first is None:
        return PairwiseAnnotation(None, raw, swapped, error="no 'm'/'M' in the judge's answer")
    p_model = p_first if swapped else 1.0 - p_first
    return PairwiseAnnotation(1.0 + p_model, raw, swapped)


class RewardModelAlpacaJudge:
    """Offline judge: p(model beats reference) = sigmoid(score(model) - score(reference)) from a reward model."""

    def __init__(self, scorer: Any, name: str = "reward-model") -> None:
        self.scorer = scorer
        self.name = name

    def annotate(self, instructions: Sequence[str], baseline_outputs: Sequence[str],
                 model_outputs: Sequence[str], progress: bool = True) -> list[PairwiseAnnotation]:
        prompts = [[{"role": "user", "content": i}] for i in instructions]
        s_model = self.scorer(prompts, list(model_outputs))
        s_base = self.scorer(prompts, list(baseline_outputs))
        out = []
        for m, b in zip(s_model, s_base, strict=True):
            if not (math.isfinite(m) and math.isfinite(b)):
                out.append(PairwiseAnnotation(None, f"{m} {b}", error="non-finite reward score"))
            else:
                out.append(PairwiseAnnotation(1.0 + sigmoid(m - b), f"score_model={m:.6g} score_reference={b:.6g}"))
        return out
