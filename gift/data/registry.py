"""The paper's datasets: hub id, config, pinned revision, splits, raw columns and reward kind."""

from __future__ import annotations

from dataclasses import dataclass, field

# Reference prompt suffixes as the reference implementations (verl's data preprocessing) append them.
GSM8K_SUFFIX = 'Let\'s think step by step and output the final answer after "####".'
MATH_SUFFIX = "Let's think step by step and output the final answer within \\boxed{}."
# DAPO-Math-17k and AIME-2024 (BytedTsinghua-SIA) ship the instruction inside the prompt itself.
DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the paper and how its raw rows become prepared examples."""

    name: str
    hub_id: str
    config: str | None
    revision: str
    splits: dict[str, str]
    """Prepared split name -> split name on the hub."""
    columns: tuple[str, ...]
    """Raw columns every row must have; nested keys as 'parent.child'."""
    reward: str
    """The default reward (gift.rewards): the rule verl routes the dataset to, where it routes it."""
    prompt_suffix: str = ""
    dedupe: bool = False
    """Drop rows whose prompt repeats (DAPO-Math-17k repeats each row ~100x, AIME-2024 each of 30 problems)."""
    eval_split: str | None = None
    """The split RLVR pass@1 is measured on, if any."""
    notes: str = ""
    synthetic_sizes: dict[str, int] = field(default_factory=dict)
    """Rows per prepared split of the synthetic twin (before deduplication)."""


REGISTRY: dict[str, DatasetSpec] = {
    "gsm8k": DatasetSpec(
        name="gsm8k",
        hub_id="openai/gsm8k",
        config="main",
        revision="cc7b047b6e5bb11b4f1af84efc572db110a51b3c",
        splits={"train": "train", "test": "test"},
        columns=("question", "answer"),
        reward="gsm8k",
        prompt_suffix=GSM8K_SUFFIX,
        eval_split="test",
        synthetic_sizes={"train": 2000, "test": 128},
    ),
    "math": DatasetSpec(
        name="math",
        hub_id="DigitalLearningGmbH/MATH-lighteval",
        config="default",
        # No commit hash of this repository could be confirmed offline; pin one before a paper run.
        revision="main",
        splits={"train": "train", "test": "test"},
        columns=("problem", "level", "type", "solution"),
        reward="math",
        prompt_suffix=MATH_SUFFIX,
        eval_split="test",
        synthetic_sizes={"train": 2000, "test": 128},
    ),
    "dapo_math": DatasetSpec(
        name="dapo_math",
        hub_id="BytedTsinghua-SIA/DAPO-Math-17k",
        config="default",
        revision="65877096c24ffa7abc4e4fa5edb95cf3413a5674",
        splits={"train": "train"},
        columns=("data_source", "prompt", "ability", "reward_model.ground_truth", "extra_info"),
        reward="dapo",
        dedupe=True,
        notes="rows repeat ~100x on the hub; deduplicated by prompt",
        synthetic_sizes={"train": 1500},
    ),
    "aime2024": DatasetSpec(
        name="aime2024",
        hub_id="BytedTsinghua-SIA/AIME-2024",
        config="default",
        # No commit hash of this repository could be confirmed offline; pin one before a paper run.
        revision="main",
        splits={"test": "train"},
        columns=("data_source", "prompt", "ability", "reward_model.ground_truth", "extra_info"),
        reward="dapo",
        dedupe=True,
        eval_split="test",
        notes="the hub file repeats each of the 30 problems; deduplicated to 30",
        synthetic_sizes={"test": 60},
    ),
    "infinity_instruct": DatasetSpec(
        name="infinity_instruct",
        hub_id="BAAI/Infinity-Instruct",
        config="0625",
        # No commit hash of this repository could be confirmed offline; pin one before a paper run.
        revision="main",
        splits={"train": "train"},
        columns=("conversations",),
        reward="reward_model",
        notes="config and subset size are set in the paper config (--config, --limit train=N)",
        synthetic_sizes={"train": 1500},
    ),
    "numina_distill": DatasetSpec(
        name="numina_distill",
        hub_id="OmniAI-ZJU/NuminaMath-Cot-Distillation-100K",
        config="default",
        # No commit hash of this repository could be confirmed offline; pin one before a paper run.
        revision="main",
        splits={"train": "train"},
        columns=("prompt", "reward_model.ground_truth", "extra_info.answer", "extra_info.model_answer"),
        # verl routes NuminaMath sources to its symbolic checker (prime_math), not to a string rule
        reward="math_verify",
        notes="expert CoT in extra_info.answer, teacher CoTs in extra_info.model_answer",
        synthetic_sizes={"train": 1000},
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for `name`, or a ValueError listing the known datasets."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}") from None
