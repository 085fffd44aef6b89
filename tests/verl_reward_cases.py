"""Completions, ground truths and the reward verl's scorers give them: the table the `gsm8k`, `math` and `dapo` rewards are tested on.

Each expected value was produced by running the original scorer files of the paper's author's verl fork
(github.com/ZhichaoWang970201/verl, commit fc7760fdfd1a29afa681e3d85373154d15c90419, files
verl/utils/reward_score/gsm8k.py `compute_score`, math_reward.py `compute_score` and math_dapo.py
`compute_score`, whose `acc` is read as the reward; the routing to them is `default_compute_score` of
verl/utils/reward_score/__init__.py at commit 37ca2b1eef7188c7e9611e76443db44681648bce). Re-check with
`python tests/scripts/verl_reward_values.py <checkout>/verl/utils/reward_score`. Every value was also
derived by hand from the rule; the comment says how where the rule is not obvious.
"""

from __future__ import annotations

PAD = "x" * 320  # more than the 300 characters the GSM8K and DAPO rules read

# (reward kind, completion, ground truth, expected reward)
CASES: list[tuple[str, str, str, float]] = [
    # ---- gsm8k (gsm8k.py, strict) ----
    ("gsm8k", "so 6*3=18\n#### 18", "18", 1.0),
    ("gsm8k", "#### 18.", "18", 0.0),  # the trailing dot is part of the number
    ("gsm8k", "#### 1,000", "1000", 1.0),  # commas removed
    ("gsm8k", "#### $18", "18", 0.0),  # '$' right after '#### ' is no number
    ("gsm8k", "#### 18\n" + PAD, "18", 0.0),  # beyond the last 300 characters
    ("gsm8k", "#### 17\n#### 18", "18", 1.0),  # the last match

    # ---- math (math_reward.py: last \boxed{}, Hendrycks normalisation, string equality) ----
    ("math", "so $\\boxed{\\frac{1}{4}}$", "\\frac{1}{4}", 1.0),
    ("math", "so $\\boxed{0.25}$", "\\frac{1}{4}", 0.0),  # only 0.5 becomes a fraction
    ("math", "so $\\boxed{\\frac{2}{4}}$", "\\frac{1}{2}", 0.0),  # no simplification
    ("math", "\\boxed{0.5}", "\\frac{1}{2}", 1.0),  # the special case
    ("math", "\\boxed{.5}", "\\frac12", 1.0),  # '.5' -> '0.5' -> \frac{1}{2}; \frac12 -> \frac{1}{2}
    ("math", "\\boxed{0.50}", "\\frac{1}{2}", 0.0),
    ("math", "\\boxed{1/2}", "\\frac{1}{2}", 1.0),  # a/b of two integers
    ("math", "\\boxed{5 \\text{ cm}}", "5", 1.0),  # units after '\text{ '
    ("math", "\\boxed{5\\text{cm}}", "5", 0.0),  # no space: not units
    ("math", "\\boxed{5 \\text{ cm} \\text{ }}", "5", 0.0),  # two '\text{ ': raw strings compared
    ("math", "\\boxed{\\text{(A)}}", "(A)", 0.0),  # \text{} is not unwrapped
    ("math", "\\boxed{\\text{(A)}}", "\\text{(A)}", 1.0),
    ("math", "\\boxed{1,\\!000}", "1,000", 1.0),  # '\!' dropped
    ("math", "\\boxed{1,000}", "1000", 0.0),  # commas kept
    ("math", "\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}", 1.0),
    ("math", "\\boxed{\\tfrac{1}{2}}", "\\frac{1}{2}", 1.0),
    ("math", "\\boxed{\\sqrt3}", "\\sqrt{3}", 1.0),
    ("math", "\\boxed{2\\sqrt{2}}", "2\\sqrt2", 1.0),
    ("math", "\\boxed{\\sqrt}", "\\sqrt", 1.0),  # unnormalisable '\sqrt': raw strings compared
    ("math", "\\boxed{3\\frac}", "3\\frac", 1.0),  # likewise for '\frac'
    ("math", "\\boxed{\\left( 3, 4 \\right)}", "(3,4)", 1.0),
    ("math", "\\boxed{90^\\circ}", "90", 1.0),
    ("math", "\\boxed{90^{\\circ}}", "90", 1.0),
    ("math", "\\boxed{\\$5}", "5", 1.0),
    ("math", "\\boxed{10\\%}", "10", 1.0),
    ("math", "\\boxed{5.}", "5", 0.0),  # no trailing-dot removal
    ("math", "$\\boxed{5}$.", "5", 1.0),  # the sentence's dot is outside the box
    ("math", "\\boxed{x=5}", "5", 1.0),  # left side of at most 2 characters dropped
    ("math", "\\boxed{x = 5}", "5", 1.0),
    ("math", "\\boxed{xyz=5}", "5", 0.0),
    ("math", "first \\boxed{1} then \\boxed{2}", "2", 1.0),  # the last box
    ("math", "first \\boxed{1} then \\boxed{2}", "1", 0.0),
    ("math", "the answer is 5", "5", 0.0),  # no box
    ("math", "\\fbox{5}", "5", 0.0),  # found, but only '\boxed{' is unwrapped: 0
    ("math", "so \\boxed 5$.", "5", 1.0),  # '\boxed ' form: up to the next '$'
    ("math", "so \\boxed 5.", "5", 0.0),  # '5.'
    ("math", "\\boxed 6$ then \\boxed{5}", "6", 1.0),  # the '\boxed ' form wins over a later box
    ("math", "\\boxed 6$ then \\boxed{5}", "5", 0.0),
    ("math", "\\boxed 6 then \\boxed{5}", "6", 0.0),  # no '$': the answer runs to the end
    ("math", "\\boxed {5}", "5", 0.0),  # a space before the brace: the answer is '{5}'
    ("math", "\\boxed{5", "5", 0.0),  # unclosed
    ("math", "\\boxed{\u22123}", "-3", 0.0),  # a unicode minus is not '-'
    ("math", "\\boxed{1+x^2}", "x^2+1", 0.0),  # no algebra
    ("math", "\\boxed{7}" + PAD, "7", 1.0),  # the whole completion is read
    ("math", "\\boxed{\\frac{1}{4}}", "\\frac14", 1.0),

    # ---- dapo (math_dapo.py: last 300 characters, last 'Answer:' line, Minerva normalisation) ----
    ("dapo", "1+2=3\nAnswer: 42", "42", 1.0),
    ("dapo", "so the answer is $\\boxed{42}$.", "42", 0.0),  # no Answer line
    ("dapo", "Answer: 42\n" + PAD, "42", 0.0),  # beyond the last 300 characters
    ("dapo", "Answer: 42\n" + "x" * 289, "42", 1.0),  # 300 characters in all
    ("dapo", "Answer: 42\n" + "x" * 290, "42", 0.0),  # 301: the tail starts at 'nswer'
    ("dapo", "Answer: 42.0", "42", 0.0),
    ("dapo", "Answer: 42.", "42", 0.0),  # no trailing-dot removal
    ("dapo", "Answer: $42$.", "42", 1.0),  # the first $...$ span is kept
    ("dapo", "answer: 42", "42", 1.0),  # any case
    ("dapo", "ANSWER :42", "42", 1.0),
    ("dapo", "Answer:\n42", "42", 1.0),  # the spaces after the colon may be a newline
    ("dapo", "Answer: \\boxed{42}", "42", 1.0),
    ("dapo", "Final Answer: The final answer is $\\boxed{42}$", "42", 1.0),
    ("dapo", "The answer is: 42", "42", 0.0),  # 'is' between 'answer' and ':'
    ("dapo", "Answer: 5\nAnswer: 7", "7", 1.0),  # the last Answer line
    ("dapo", "Answer: 5\nAnswer: 7", "5", 0.0),
    ("dapo", "Answer: \\boxed{1} or \\boxed{2}", "2", 0.0),  # greedy unboxing: '1}or\boxed{2'
    ("dapo", "Answer: 90 degrees", "90", 1.0),  # unit words deleted
    ("dapo", "Answer: 90^\\circ", "90", 1.0),
    ("dapo", "Answer: 5 \\text{ cm}", "5", 1.0),  # spaces, 'cm', then '\text{}' deleted
    ("dapo", "Answer: 5 apples", "5", 0.0),  # not a listed unit
    ("dapo", "Answer: \\text{5}", "5", 1.0),  # \text{} unwrapped
    ("dapo", "Answer: 1,\\!000", "1000", 1.0),  # ',\!' deleted
    ("dapo", "Answer: 1,000", "1000", 1.0),  # digits and commas only: commas dropped
    ("dapo", "Answer: -1,000", "-1000", 0.0),  # the sign keeps the commas
    ("dapo", "Answer: \\dfrac{1}{2}", "\\frac{1}{2}", 0.0),  # no dfrac -> frac
    ("dapo", "Answer: \\tfrac{1}{2}", "\\frac{1}{2}", 0.0),
    ("dapo", "Answer: \\frac12", "\\frac{1}{2}", 1.0),
    ("dapo", "Answer: \\sqrt2", "\\sqrt{2}", 1.0),
    ("dapo", "Answer: 0.5", "\\frac{1}{2}", 0.0),  # no 0.5 special case
    ("dapo", "Answer: \\left(1,2\\right)", "(1,2)", 0.0),  # \left, \right kept
    ("dapo", "Answer: \\$5", "5", 1.0),
    ("dapo", "Answer: x = 5", "5", 1.0),  # what follows the last '='
    ("dapo", "Answer: \\fbox{5}", "5", 0.0),  # \fbox is not unwrapped
    ("dapo", "I don't know", "33", 0.0),
    ("dapo", "", "33", 0.0),
]
