"""Synthetic twins of the paper's datasets, generated in each hub dataset's raw schema.

The twins are small learnable tasks (chains of arithmetic steps, linear equations, remainders,
fractions, string instructions) with difficulty knobs, over a deliberately small vocabulary so that a
sub-1M-parameter model with a small BPE tokenizer can learn them on a CPU. Every twin row goes
through the same mapping code as a hub row (gift.data.mapping).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from gift.data.registry import DAPO_PREFIX, DAPO_SUFFIX, MATH_SUFFIX, get_spec

NAMES = ("Ann", "Ben", "Dan", "Eve", "Max", "Sam", "Tom", "Zoe")
ITEMS = ("apples", "books", "coins", "pens", "cards", "eggs")
WORDS = ("cat", "dog", "sun", "tree", "book", "fish", "bird", "moon", "star", "cake", "lamp", "rock")


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the arithmetic twins: operand size and number of steps."""

    digits: int = 1
    """Largest number of digits of an operand."""
    min_ops: int = 1
    max_ops: int = 2
    multiply: bool = True
    """Allow multiplication steps (by 2 or 3)."""


# Defaults that a ~0.2-0.8M-parameter model learns partially within a few hundred steps.
DEFAULT_DIFFICULTY: dict[str, Difficulty] = {
    "gsm8k": Difficulty(digits=1, min_ops=1, max_ops=2),
    "math": Difficulty(digits=1, min_ops=1, max_ops=2),
    "dapo_math": Difficulty(digits=1, min_ops=2, max_ops=2),
    "aime2024": Difficulty(digits=1, min_ops=2, max_ops=2),
    "infinity_instruct": Difficulty(),
    "numina_distill": Difficulty(digits=1, min_ops=1, max_ops=2),
}


def _operand(rng: random.Random, digits: int) -> int:
    return rng.randint(1, 10**digits - 1)


def _chain(rng: random.Random, d: Difficulty) -> tuple[int, list[tuple[str, int, int]]]:
    """A start value and steps (op, operand, result) with every intermediate result >= 0."""
    value = _operand(rng, d.digits)
    start = value
    steps = []
    for _ in range(rng.randint(d.min_ops, d.max_ops)):
        ops = ["+"] + (["-"] if value > 0 else []) + (["*"] if d.multiply and value < 50 else [])
        op = rng.choice(ops)
        if op == "*":
            b = rng.choice((2, 3))
            result = value * b
        elif op == "-":
            b = rng.randint(1, min(value, 10**d.digits - 1))
            result = value - b
        else:
            b = _operand(rng, d.digits)
            result = value + b
        steps.append((op, b, result))
        value = result
    return start, steps


def _step_lines(start: int, steps: list[tuple[str, int, int]]) -> list[str]:
    lines, value = [], start
    for op, b, result in steps:
        lines.append(f"{value}{op}{b}={result}")
        value = result
    return lines


# ---- GSM8K: question / answer with '#### n' --------------------------------------------------------

def _gsm8k_row(rng: random.Random, d: Difficulty) -> dict:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    start, steps = _chain(rng, d)
    sentences = [f"{name} has {start} {item}."]
    for op, b, _ in steps:
        if op == "+":
            sentences.append(f"{name} gets {b} more.")
        elif op == "-":
            sentences.append(f"{name} gives away {b}.")
        else:
            sentences.append(f"Then {name} gets {b} times as many.")
    sentences.append(f"How many {item} does {name} have now?")
    answer = "\n".join(_step_lines(start, steps)) + f"\n#### {steps[-1][2]}"
    return {"question": " ".join(sentences), "answer": answer}


# ---- MATH (lighteval): problem / level / type / solution with \boxed{} ------------------------------

def _math_problem(rng: random.Random, d: Difficulty) -> tuple[str, str, str, str]:
    """(problem, type, solution, boxed answer)."""
    kind = rng.choices(("Prealgebra", "Algebra", "Number Theory", "Fractions"), weights=(4, 3, 2, 1))[0]
    if kind == "Prealgebra":
        start, steps = _chain(rng, d)
        expr = str(start)
        for op, b, _ in steps:
            expr = f"({expr}){op}{b}" if op == "*" and len(steps) > 1 and expr != str(start) else f"{expr}{op}{b}"
        expr_tex = expr.replace("*", " \\times ")
        work = ", ".join(f"${line}$" for line in _step_lines(start, steps)).replace("*", " \\times ")
        ans = str(steps[-1][2])
        return f"Compute ${expr_tex}$.", "Prealgebra", f"We have {work}, so the answer is $\\boxed{{{ans}}}$.", ans
    if kind == "Algebra":
        x, a = _operand(rng, d.digits), _operand(rng, d.digits)
        if rng.random() < 0.5:
            c = x + a
            sol = f"Subtracting gives $x={c}-{a}={x}$, so $x=\\boxed{{{x}}}$."
            return f"Solve for $x$: $x+{a}={c}$.", "Algebra", sol, str(x)
        a = rng.choice((2, 3, 4, 5))
        c = a * x
        sol = f"Dividing gives $x={c}/{a}={x}$, so $x=\\boxed{{{x}}}$."
        return f"Solve for $x$: ${a}x={c}$.", "Algebra", sol, str(x)
    if kind == "Number Theory":
        b = rng.randint(2, 9)
        a = rng.randint(b + 1, 10 ** (d.digits + 1) - 1)
        q, r = divmod(a, b)
        sol = f"Since ${a}={q} \\cdot {b}+{r}$, the remainder is $\\boxed{{{r}}}$."
        return f"What is the remainder when ${a}$ is divided by ${b}$?", "Number Theory", sol, str(r)
    q = rng.randint(2, 9)
    p = rng.randint(1, q - 1)
    g = math.gcd(p, q)
    p, q = p // g, q // g
    k = rng.randint(2, 4)
    ans = f"\\frac{{{p}}}{{{q}}}"
    sol = f"Dividing top and bottom by ${k}$ gives $\\boxed{{{ans}}}$."
    return f"Simplify $\\frac{{{p * k}}}{{{q * k}}}$.", "Prealgebra", sol, ans


def _math_row(rng: random.Random, d: Difficulty) -> dict:
    problem, kind, solution, _ = _math_problem(rng, d)
    level = min(5, d.digits + d.max_ops - 1)
    return {"problem": problem, "level": f"Level {level}", "type": kind, "solution": solution}


# ---- DAPO-Math-17k and AIME-2024: verl parquet schema, 'Answer:' format ---------------------------

def _dapo_problem(rng: random.Random, d: Difficulty) -> tuple[str, str, str]:
    start, steps = _chain(rng, d)
    words = {"+": "add", "-": "subtract", "*": "multiply by"}
    parts = [f"{words[op]} ${b}$" for op, b, _ in steps]
    problem = f"Start with ${start}$, then " + ", then ".join(parts) + ". What number do you get?"
    answer = str(steps[-1][2])
    solution = "\n".join(_step_lines(start, steps)) + f"\nAnswer: {answer}"
    return problem, solution, answer


def _dapo_row(rng: random.Random, d: Difficulty, data_source: str) -> dict:
    problem, solution, answer = _dapo_problem(rng, d)
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": DAPO_PREFIX + problem + DAPO_SUFFIX}],
        "ability": "MATH",
        "reward_model": {"ground_truth": answer, "style": "rule-lighteval/MATH_v2"},
        # The hub rows carry only an index here; the twin adds its worked solution so that a tiny
        # backbone can be warm-started on it. The mapping reads it only where present.
        "extra_info": {"index": f"{rng.getrandbits(64):016x}", "solution": solution},
    }


# ---- Infinity-Instruct: ShareGPT-style conversations ------------------------------------------------

def instruction_pair(rng: random.Random) -> tuple[str, str]:
    """One (instruction, response) of the instruction twin."""
    word = rng.choice(WORDS)
    task = rng.randrange(6)
    if task == 0:
        return f"Reverse the word {word}.", word[::-1]
    if task == 1:
        return f"Write the word {word} in capital letters.", word.upper()
    if task == 2:
        n = rng.randint(2, 4)
        return f"Repeat the word {word} {n} times.", " ".join([word] * n)
    if task == 3:
        return f"What is the first letter of {word}?", f"The first letter of {word} is {word[0]}."
    if task == 4:
        return f"How many letters are in {word}?", f"The word {word} has {len(word)} letters."
    return f"Sort the letters of {word}.", "".join(sorted(word))


def _infinity_row(rng: random.Random, index: int) -> dict:
    instruction, response = instruction_pair(rng)
    return {
        "id": index,
        "conversations": [{"from": "human", "value": instruction}, {"from": "gpt", "value": response}],
        "label": {"ability_en": ["instruction following"], "ability_zh": [], "cate_ability_en": [],
                  "cate_ability_zh": []},
        "langdetect": "en",
        "source": "synthetic",
    }


# ---- NuminaMath-Cot-Distillation-100K: verl schema with expert and teacher CoTs ---------------------

def _wrong_solution(rng: random.Random, solution: str, answer: str) -> str:
    """The same solution with a wrong final answer (a teacher's arithmetic slip)."""
    try:
        wrong = str(int(answer) + rng.choice((-2, -1, 1, 2, 10)))
    except ValueError:
        wrong = "\\frac{1}{2}" if answer != "\\frac{1}{2}" else "\\frac{1}{3}"
    head, _, _ = solution.rpartition("\\boxed{")
    return f"{head}\\boxed{{{wrong}}}$."


def _numina_row(rng: random.Random, d: Difficulty, index: int, n_teachers: int = 3) -> dict:
    problem, _, solution, answer = _math_problem(rng, d)
    teachers = [solution if rng.random() < 0.6 else _wrong_solution(rng, solution, answer) for _ in range(n_teachers)]
    question = problem + " " + MATH_SUFFIX
    return {
        "source": "synthetic",
        "data_source": "numina_synthetic",
        "ability": "math",
        "prompt": [{"role": "user", "content": question}],
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {"answer": solution, "index": index, "model_answer": teachers, "question": problem,
                       "split": "train"},
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": solution}],
    }


def _row(name: str, rng: random.Random, d: Difficulty, index: int) -> dict:
    if name == "gsm8k":
        return _gsm8k_row(rng, d)
    if name == "math":
        return _math_row(rng, d)
    if name == "dapo_math":
        return _dapo_row(rng, d, "math_dapo")
    if name == "aime2024":
        return _dapo_row(rng, d, "aime_2024")
    if name == "infinity_instruct":
        return _infinity_row(rng, index)
    if name == "numina_distill":
        return _numina_row(rng, d, index)
    raise ValueError(f"no synthetic twin for dataset {name!r}")


def _row_key(row: dict) -> str:
    for key in ("question", "problem"):
        if key in row:
            return row[key]
    if "conversations" in row:
        return row["conversations"][0]["value"] + "\x00" + str(row["id"])
    return row["prompt"][0]["content"]


def generate_split(name: str, split: str, n: int, seed: int = 0, difficulty: Difficulty | None = None,
                   exclude: set[str] | None = None, repeats: int = 1) -> list[dict]:
    """`n` distinct raw rows of dataset `name`'s twin for `split`, deterministic for `seed`.

    Rows whose problem is in `exclude` are skipped (so that train never holds an eval problem).
    `repeats` > 1 repeats every row, as the hub's DAPO-Math-17k and AIME-2024 files do.
    """
    d = difficulty or DEFAULT_DIFFICULTY.get(name, Difficulty())
    rng = random.Random(f"{name}/{split}/{seed}")
    exclude = exclude or set()
    rows: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"synthetic {name}/{split}: only {len(rows)} distinct problems at this difficulty; "
                             f"ask for fewer rows or raise the difficulty")
        row = _row(name, rng, d, len(rows))
        key = _row_key(row)
        if key in seen or key in exclude:
            continue
        seen.add(key)
        rows.append(row)
    if repeats > 1:
        rows = [row for row in rows for _ in range(repeats)]
    return rows


def generate(name: str, seed: int = 0, sizes: dict[str, int] | None = None,
             difficulty: Difficulty | None = None) -> dict[str, list[dict]]:
    """Raw rows for every prepared split of dataset `name`'s twin, eval split first and disjoint from train."""
    spec = get_spec(name)
    sizes = {**spec.synthetic_sizes, **(sizes or {})}
    order = sorted(spec.splits, key=lambda s: s != spec.eval_split)
    out: dict[str, list[dict]] = {}
    used: set[str] = set()
    if name == "aime2024":
        # The AIME twin is an eval set for backbones trained on the DAPO twin: keep them disjoint.
        used = {_row_key(r) for r in generate("dapo_math", seed)["train"]}
    for split in order:
        rows = generate_split(name, split, sizes[split], seed, difficulty, exclude=used,
                              repeats=2 if spec.dedupe else 1)
        used |= {_row_key(r) for r in rows}
        out[split] = rows
    return out
