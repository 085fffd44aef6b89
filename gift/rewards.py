"""Explicit rewards: verifiable answers (GSM8K, MATH, DAPO/AIME) and a reward model's score.

`gsm8k`, `math` and `dapo` are the rules of verl's scorers that the paper's author trained and validated
with (docs/evaluation.md#verifiable-rewards): GSM8K the last `#### <number>` in the completion's last 300
characters, commas removed, compared as a string; MATH the last `\\boxed{}` under the Hendrycks string
normalisation; DAPO/AIME the last `Answer:` line of the last 300 characters under the Minerva string
normalisation (gift.answer_rules). The lenient alternatives: `gsm8k_lenient` also accepts `$`, trailing
dots and equal decimals; `math_verify` checks the last `\\boxed{}` for equivalence with math-verify;
`dapo_verify` does so for the last `Answer: <x>` line, with the last `\\boxed{}` as fallback. Any
completion that cannot be parsed, and any reward that raises or exceeds its CPU-time limit, scores 0 and
is counted: a reward never stops training.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gift.answer_rules import dapo_rule_score, math_rule_score
from gift.errors import did_you_mean
from gift.math_equivalence import DEFAULT_CPU_S, VerifyTimeout, equivalent

log = logging.getLogger("gift.rewards")

VERIFIABLE_KINDS = ("gsm8k", "gsm8k_lenient", "math", "dapo", "math_verify", "dapo_verify")
REWARD_KINDS = (*VERIFIABLE_KINDS, "reward_model")

_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\ufe63\uff0d"), "-")
# verl's GSM8K rule (verl/utils/reward_score/gsm8k.py, method "strict"), which the paper's GRPO recipe scores with.
_GSM8K_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
_GSM8K_CLIP_CHARS = 300
_GSM8K_ANSWER = re.compile(r"####\s*\$?\s*(-?\s*[0-9][0-9,]*(?:\.[0-9]+)?|-?\s*\.[0-9]+)")
_DAPO_ANSWER = re.compile(r"(?i)answer\s*:\s*([^\n]+)")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# A longer "number" is not an answer; capping it before Decimal/int keeps the cost of a reward bounded
# (int <-> str of a million digits takes minutes).
MAX_NUMBER_CHARS = 100

# reward_args each reward accepts (the run config's `reward_args`)
REWARD_ARGS = {
    "gsm8k": (),
    "gsm8k_lenient": (),
    "math": (),
    "dapo": (),
    "math_verify": ("verify_cpu_s",),
    "dapo_verify": ("verify_cpu_s",),
    "reward_model": ("batch_size", "length_normalize", "max_length", "device"),
}


def check_reward_args(kind: str, args: Any) -> None:
    """Raise ValueError naming any key of `args` that reward `kind` does not take, with the closest valid ones."""
    if not isinstance(args, dict):
        raise ValueError(f"must be a mapping of keyword arguments, got {args!r}")
    valid = REWARD_ARGS.get(kind, ())
    unknown = sorted(set(args) - set(valid))
    if unknown:
        hints = "; ".join(f"{k!r}{did_you_mean(k, valid)}" for k in unknown)
        raise ValueError(f"has key(s) reward {kind!r} does not take: {hints}; it takes "
                         f"{', '.join(valid) if valid else 'none'}")
    cpu = args.get("verify_cpu_s")
    if cpu is not None and (isinstance(cpu, bool) or not isinstance(cpu, int | float) or not 0 < cpu <= 600):
        raise ValueError(f"verify_cpu_s must be a number of CPU-seconds in (0, 600], got {cpu!r}")


# ---- parsing ------------------------------------------------------------------------------------------

def normalize_number(text: str) -> str | None:
    """A canonical decimal string for `text` ('1,000' -> '1000', '\u22125' -> '-5', '42.0' -> '42'), or None."""
    s = str(text)
    if len(s) > 4 * MAX_NUMBER_CHARS:
        return None
    s = s.translate(_MINUS).strip().rstrip(".").replace("$", "").replace(" ", "")
    if len(s) > MAX_NUMBER_CHARS:
        return None
    if re.fullmatch(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?", s):
        s = s.replace(",", "")
    if not _NUMBER.fullmatch(s):
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def extract_gsm8k(completion: str) -> str | None:
    """verl's strict GSM8K answer: the last `#### <digits, dots, commas>` of the last 300 characters, commas removed.

    No other normalisation: `#### 18.` gives "18." and `#### 18.00` gives "18.00", which a ground truth
    of "18" does not equal; `#### $18` has no answer. None if there is no match.
    """
    text = str(completion)
    # verl reads only the tail: the final answer of a long solution is at its end
    matches = _GSM8K_STRICT.findall(text[-_GSM8K_CLIP_CHARS:])
    return matches[-1].replace(",", "") if matches else None


def extract_gsm8k_lenient(completion: str) -> str | None:
    """The number after the last `####` that is followed by a number, normalised; None if there is none."""
    matches = _GSM8K_ANSWER.findall(str(completion).translate(_MINUS))
    for candidate in reversed(matches):
        value = normalize_number(candidate)
        if value is not None:
            return value
    return None


def extract_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced; None if absent or unclosed."""
    text = str(text)
    starts = [m.start() for m in re.finditer(r"\\(?:boxed|fbox)\b", text)]
    for start in reversed(starts):
        i = start + (5 if text.startswith("\\fbox", start) else 6)
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        content = text[i + 1 : j].strip()
                        return content if content else None
            continue  # unclosed brace: try an earlier box
        m = re.match(r"[^\s$]+", text[i:])  # '\boxed 5' form
        if m and text[i - 1] == " ":
            return m.group(0)
    return None


def _strip_latex(answer: str) -> str:
    s = answer.translate(_MINUS).strip()
    s = re.sub(r"\\text\{([^}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:mathrm|textbf|mathbf)\{([^}]*)\}", r"\1", s)
    s = s.replace("\\!", "").replace("\\,", "").replace("\\ ", "").replace("$", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    return s.strip().rstrip(".").strip()


def extract_dapo(completion: str) -> str | None:
    """`dapo_verify`'s answer: the last `Answer: <x>` line's; the last `\\boxed{}` if there is no such line."""
    text = str(completion)
    matches = _DAPO_ANSWER.findall(text)
    if matches:
        answer = matches[-1].strip()
        boxed = extract_boxed(answer)
        answer = _strip_latex(boxed if boxed is not None else answer)
        if answer:
            return answer
    boxed = extract_boxed(text)
    return _strip_latex(boxed) if boxed else None


# ---- equivalence -------------------------------------------------------------------------------------

def math_equal(prediction: str, ground_truth: str, cpu_s: float = DEFAULT_CPU_S) -> bool:
    """Whether two LaTeX answers are equivalent: string and number comparison, then math-verify.

    math-verify runs in a worker limited to `cpu_s` CPU-seconds (gift.math_equivalence); past it VerifyTimeout is raised.
    """
    a, b = _strip_latex(prediction), _strip_latex(ground_truth)
    if a == b:
        return True
    na, nb = normalize_number(a), normalize_number(b)
    if na is not None and nb is not None:
        return na == nb
    return equivalent(prediction, ground_truth, cpu_s)


def score_verifiable(kind: str, completion: str, ground_truth: str,
                     cpu_s: float = DEFAULT_CPU_S) -> tuple[float, bool]:
    """(reward in {0, 1}, whether an answer could be parsed) for one completion."""
    if kind not in VERIFIABLE_KINDS:
        raise ValueError(f"unknown verifiable reward {kind!r}; choose one of {', '.join(VERIFIABLE_KINDS)}")
    if ground_truth is None:
        raise ValueError(f"reward {kind!r} needs a ground_truth")
    if kind == "gsm8k":
        pred = extract_gsm8k(completion)
        if pred is None:
            return 0.0, False
        return float(pred == str(ground_truth)), True
    if kind == "gsm8k_lenient":
        pred = extract_gsm8k_lenient(completion)
        if pred is None:
            return 0.0, False
        truth = normalize_number(ground_truth)
        return float(truth is not None and pred == truth), True
    if kind == "math":
        return math_rule_score(completion, str(ground_truth))
    if kind == "dapo":
        return dapo_rule_score(completion, str(ground_truth))
    if kind == "math_verify":
        pred = extract_boxed(completion)
        if pred is None:
            return 0.0, False
        return float(math_equal(pred, str(ground_truth), cpu_s)), True
    pred = extract_dapo(completion)
    if pred is None:
        return 0.0, False
    return float(math_equal(pred, str(ground_truth), cpu_s)), True


def verifiable_reward(kind: str, completion: str, ground_truth: str) -> float:
    """1.0 if the completion's final answer equals the ground truth under reward `kind`, else 0.0."""
    return score_verifiable(kind, completion, ground_truth)[0]


# ---- reward model ------------------------------------------------------------------------------------

def _text_of(completion: Any) -> str:
    """A completion as text: TRL passes strings, or for chat data a list of message dicts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, Sequence):
        return "".join(_text_of(m) for m in completion if not isinstance(m, dict) or m.get("role") != "user")
    return str(completion)


def _messages_of(prompt: Any) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def _check_not_partitioned(model: Any) -> None:
    """A reward model must hold its whole weights: one loaded under ZeRO-3's zero.Init has empty shards."""
    empty = [name for name, p in model.named_parameters() if p.numel() == 0 or hasattr(p, "ds_id")]
    if empty:
        raise RuntimeError(f"the reward model's weights are partitioned ({len(empty)} tensors, e.g. {empty[0]}): it "
                           "was loaded while DeepSpeed ZeRO-3 was active; load it before the trainer config exists")


class RewardModelScorer:
    """Scores (prompt, response) pairs with a sequence-classification reward model.

    The input is the model's chat template over [user..., assistant]; the score is the scalar logit,
    divided by sqrt(response length in the reward model's tokens) when `length_normalize` is set, as
    the paper does against length bias.
    """

    def __init__(self, model: Any, tokenizer: Any = None, batch_size: int = 8, length_normalize: bool = True,
                 max_length: int = 2048, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if isinstance(model, (str, Path)):
            path = str(model)
            if not Path(path).exists():
                from gift.pretrained import hub_reachable

                if not hub_reachable():
                    raise RuntimeError(f"reward model {path!r}: not a local directory and the model hub is "
                                       "unreachable; point the config at a local copy (a from_pretrained directory)")
            from gift.distributed import local_device

            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
            on_gpu = (device or local_device()).startswith("cuda")
            model = AutoModelForSequenceClassification.from_pretrained(
                path, dtype=torch.bfloat16 if on_gpu else torch.float32)
        if tokenizer is None:
            raise ValueError("a tokenizer is needed when the reward model is passed as an object")
        _check_not_partitioned(model)
        from gift.distributed import local_device

        # this rank's GPU (a bare "cuda" would put every rank's copy on GPU 0)
        self.device = device or local_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(self.model.config, "pad_token_id", None) is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size = batch_size
        self.length_normalize = length_normalize
        self.max_length = max_length

    def raw_scores(self, prompts: Sequence[Any], responses: Sequence[str]) -> list[float]:
        """The reward model's scalar logits, without length normalisation."""
        import torch

        texts = [self.tokenizer.apply_chat_template(_messages_of(p) + [{"role": "assistant", "content": r}],
                                                    tokenize=False) for p, r in zip(prompts, responses, strict=True)]
        out: list[float] = []
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"
        try:
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(texts[i : i + self.batch_size], return_tensors="pt", padding=True,
                                     truncation=True, max_length=self.max_length, add_special_tokens=False)
                with torch.inference_mode():
                    logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits
                out.extend(logits[:, 0].float().cpu().tolist())
        finally:
            self.tokenizer.padding_side = side
        return out

    def __call__(self, prompts: Sequence[Any], responses: Sequence[str]) -> list[float]:
        scores = self.raw_scores(prompts, responses)
        if not self.length_normalize:
            return scores
        lengths = [len(self.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in responses]
        return [s / math.sqrt(max(n, 1)) for s, n in zip(scores, lengths, strict=True)]


# ---- TRL-compatible reward functions ----------------------------------------------------------------

class RewardFunction:
    """A TRL reward function `f(prompts, completions, ground_truth=None, **columns) -> list[float]`.

    Never raises on model output: an unparsable completion or a failing reward scores 0 and is
    counted in `stats()` ({"calls": invocations, "completions": completions scored, "unparsed", "errors",
    "timeouts"}); a timeout (math verification past `verify_cpu_s` CPU-seconds) is also an error.
    """

    def __init__(self, kind: str, scorer: Callable[..., list[float]] | None = None,
                 verify_cpu_s: float = DEFAULT_CPU_S) -> None:
        if kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward {kind!r}; choose one of {', '.join(REWARD_KINDS)}")
        self.kind = kind
        self.scorer = scorer
        self.verify_cpu_s = verify_cpu_s
        self.__name__ = f"{kind}_reward"
        self.reset_stats()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._stats = {"calls": 0, "completions": 0, "unparsed": 0, "errors": 0, "timeouts": 0}

    def stats(self) -> dict[str, int]:
        """Counters since construction or the last reset."""
        return dict(self._stats)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], ground_truth: Sequence[Any] | None = None,
                 **columns: Any) -> list[float]:
        self._stats["calls"] += 1
        self._stats["completions"] += len(completions)
        texts = [_text_of(c) for c in completions]
        if self.kind == "reward_model":
            try:
                return [float(x) if math.isfinite(x) else 0.0 for x in self.scorer(prompts, texts)]
            except Exception:
                self._stats["errors"] += len(texts)
                return [0.0] * len(texts)
        if ground_truth is None:
            ground_truth = [None] * len(texts)
        rewards = []
        for text, truth in zip(texts, ground_truth, strict=True):
            try:
                value, parsed = score_verifiable(self.kind, text, truth, self.verify_cpu_s)
            except VerifyTimeout as err:
                self._stats["errors"] += 1
                self._stats["timeouts"] += 1
                log.warning("%s reward: verification timed out (%s), scored 0 (%d so far); answer %.80r",
                            self.kind, err, self._stats["timeouts"], text[-200:])
                value, parsed = 0.0, True
            except Exception:
                self._stats["errors"] += 1
                value, parsed = 0.0, True
            if not parsed:
                self._stats["unparsed"] += 1
            rewards.append(value)
        return rewards


def make_reward_function(kind: str, model: Any = None, tokenizer: Any = None, batch_size: int = 8,
                         length_normalize: bool = True, verify_cpu_s: float = DEFAULT_CPU_S,
                         **kwargs: Any) -> RewardFunction:
    """The reward function of `kind` (one of REWARD_KINDS); a reward model needs `model`."""
    if kind == "reward_model":
        if model is None:
            raise ValueError("reward 'reward_model' needs model= (a from_pretrained directory or a loaded model)")
        scorer = RewardModelScorer(model, tokenizer, batch_size=batch_size, length_normalize=length_normalize,
                                   **kwargs)
        return RewardFunction(kind, scorer)
    return RewardFunction(kind, verify_cpu_s=verify_cpu_s)
