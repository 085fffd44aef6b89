"""The string rules that verl scores MATH and DAPO/AIME answers with, as the paper's author ran them.

Two rules, both exact string equality after a fixed normalisation, both from the EleutherAI
lm-evaluation-harness and carried by verl (Apache-2.0) in `verl/utils/reward_score/`:

- `math_rule_score` (verl's `math_reward.py`, `math.py` in older verl): the Hendrycks MATH rule. The
  answer is the content of the last `\\boxed{...}` of the whole completion; answer and ground truth are
  normalised (`hendrycks_normalise`) and compared as strings.
- `dapo_rule_score` (verl's `math_dapo.py`): the Minerva rule. Only the completion's last 300
  characters are read; the answer is the rest of the last line that starts at `Answer:` (any case);
  answer and ground truth are normalised (`minerva_normalise`) and compared as strings.

Both are reimplemented here from their rules; their quirks are kept on purpose, because they decide
which answers earn a reward (e.g. `\\fbox{}` never scores under the MATH rule, `42.0` is not `42`
under either). gift.rewards turns them into the `math` and `dapo` rewards.
"""

from __future__ import annotations

import re

# ---- the Hendrycks MATH rule (verl math_reward.py) ----------------------------------------------------

_BOXED_SPACE = "\\boxed "
_BOXED_BRACE = "\\boxed{"


class _Unnormalisable(Exception):
    """The normalisation cannot handle this string; the rule then compares the raw strings."""


def hendrycks_last_boxed(text: str) -> str | None:
    """The answer the MATH rule reads from `text`, or None where the rule finds none (which scores 0).

    - If `\\boxed ` (with a space) occurs anywhere, the answer is what follows its last occurrence, up to
      the next `$`: this form wins over any `\\boxed{}`.
    - Otherwise the last `\\boxed` must open a brace at once (`\\boxed{`), and the answer is its
      balanced content. A last `\\boxed` without a brace, an unclosed one, and `\\fbox{}` give None.
    """
    text = str(text)
    if _BOXED_SPACE in text:
        return text.split(_BOXED_SPACE)[-1].split("$")[0]
    start = text.rfind("\\boxed")
    if start < 0 or not text.startswith(_BOXED_BRACE, start):
        return None
    depth = 0
    for i in range(start + len(_BOXED_BRACE) - 1, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + len(_BOXED_BRACE): i]
    return None


def _units_removed(s: str) -> str:
    # `\text{ ` (with a space) marks units on the right in MATH's answers; two of them are not understood
    parts = s.split("\\text{ ")
    if len(parts) > 2:
        raise _Unnormalisable("more than one '\\text{ '")
    return parts[0]


def _sqrt_braced(s: str) -> str:
    # \sqrt3 -> \sqrt{3}: one character after \sqrt becomes its argument
    pieces = s.split("\\sqrt")
    out = pieces[0]
    for piece in pieces[1:]:
        if not piece:
            raise _Unnormalisable("'\\sqrt' with nothing after it")
        out += "\\sqrt" + (piece if piece[0] == "{" else "{" + piece[0] + "}" + piece[1:])
    return out


def _fracs_braced(s: str) -> str:
    # \frac12 -> \frac{1}{2}, \frac1{2} -> \frac{1}{2}: the first one or two characters become arguments
    pieces = s.split("\\frac")
    out = pieces[0]
    for piece in pieces[1:]:
        if not piece:
            raise _Unnormalisable("'\\frac' with nothing after it")
        out += "\\frac"
        if piece[0] == "{":
            out += piece
        elif len(piece) < 2:
            return s  # too short to brace: the whole string is left as it was
        elif piece[1] != "{":
            out += "{" + piece[0] + "}{" + piece[1] + "}" + piece[2:]
        else:
            out += "{" + piece[0] + "}" + piece[1:]
    return out


def _slash_as_frac(s: str) -> str:
    # "3/4" -> \frac{3}{4}, only for two integers written in their plain form
    parts = s.split("/")
    if len(parts) != 2:
        return s
    try:
        a, b = int(parts[0]), int(parts[1])
    except ValueError:
        return s
    return f"\\frac{{{a}}}{{{b}}}" if s == f"{a}/{b}" else s


def hendrycks_normalise(answer: str) -> str:
    """The MATH rule's normal form of an answer; raises _Unnormalisable where the rule gives up.

    In order: drop newlines and `\\!`; `\\\\` -> `\\`; `tfrac`/`dfrac` -> `frac`; drop `\\left`, `\\right`,
    `^{\\circ}`, `^\\circ`, `\\$`; cut at `\\text{ ` (units); drop `\\%`; `.5` -> `0.5` after a space or `{` or
    at the start; `k=...` -> `...` when the left side has at most 2 characters; brace `\\sqrt3`; drop
    spaces; brace `\\frac12`; exactly `0.5` -> `\\frac{1}{2}`; `a/b` of two integers -> `\\frac{a}{b}`.
    """
    s = answer.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    for gone in ("\\left", "\\right", "^{\\circ}", "^\\circ", "\\$"):
        s = s.replace(gone, "")
    s = _units_removed(s)
    s = s.replace("\\\\%", "").replace("\\%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        s = sides[1]
    s = _sqrt_braced(s).replace(" ", "")
    s = _fracs_braced(s)
    if s == "0.5":  # the rule's one numeric special case
        s = "\\frac{1}{2}"
    return _slash_as_frac(s)


def hendrycks_equal(answer: str, ground_truth: str) -> bool:
    """Whether two answers are equal under the MATH rule (raw equality where normalisation gives up)."""
    try:
        return hendrycks_normalise(answer) == hendrycks_normalise(ground_truth)
    except _Unnormalisable:
        return answer == ground_truth


def math_rule_score(completion: str, ground_truth: str) -> tuple[float, bool]:
    """(1.0 or 0.0, whether an answer was found) under verl's MATH rule."""
    answer = hendrycks_last_boxed(completion)
    if answer is None:
        return 0.0, False
    return float(hendrycks_equal(answer, str(ground_truth))), True


# ---- the Minerva rule of DAPO/AIME (verl math_dapo.py) ------------------------------------------------

DAPO_TAIL_CHARS = 300  # the final answer sits at the end; MATH-500's longest answer has 159 characters
# 'Answer', any case, optional spaces (newlines too), a colon, optional spaces, then the rest of that line
_ANSWER_LINE = re.compile(r"answer\s*:\s*([^\n]+)", re.IGNORECASE)
_NO_ANSWER = "[INVALID]"  # what the rule compares when there is no Answer line; no ground truth equals it

# Plain substring replacements, in this order (the Minerva normalisation of Lewkowycz et al., 2022).
_MINERVA_REPLACE = (
    ("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), ("\\ ", ""), (" ", ""), ("mbox", "text"),
    (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}"),
)
# Then these substrings are deleted, in this order: units and words, degree signs, spacing commands.
_MINERVA_DELETE = (
    "square", "ways", "integers", "dollars", "mph", "inches", "hours", "km", "units", "\\ldots", "sue",
    "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals",
    "edges", "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}",
    "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}", "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;",
    ",\\!", "{,}", '"', "\\dots",
)
# Within one line: keep only the first $...$ span (with its dollars), then unwrap one level of markup.
_FIRST_MATH_SPAN = re.compile(r"[^\n]*?\$([^\n]*?)\$[^\n]*")
_UNWRAP = (re.compile(r"\\text\{([^\n]*?)\}"), re.compile(r"\\textbf\{([^\n]*?)\}"),
           re.compile(r"\\overline\{([^\n]*?)\}"))
_UNBOX = re.compile(r"\\boxed\{([^\n]*)\}")  # greedy: up to the line's last '}'
_FRAC_SHORT = re.compile(r"frac([^{])([^\n])")  # \frac12 -> \frac{1}{2}
_SQRT_SHORT = re.compile(r"sqrt([^{])")  # \sqrt2 -> \sqrt{2}


def minerva_normalise(answer: str) -> str:
    """The DAPO rule's normal form of an answer.

    In order: keep what follows the last `=`; the replacements and deletions above (note: every space
    goes, and so do the words `a `, `an `, unit names and `\\text{}`); keep the first `$...$` span; unwrap
    `\\text{}`, `\\textbf{}`, `\\overline{}`, `\\boxed{}`; brace `\\frac12` and `\\sqrt2`; drop `$`; drop the
    commas of a number written only with digits and commas; strip. Nothing else: `42.0`, `42.`,
    `\\dfrac{1}{2}` and `0.5` stay what they are.
    """
    s = answer.split("=")[-1]
    for before, after in _MINERVA_REPLACE:
        s = s.replace(before, after)
    for gone in _MINERVA_DELETE:
        s = s.replace(gone, "")
    s = _FIRST_MATH_SPAN.sub(r"$\1$", s)
    for pattern in _UNWRAP:
        s = pattern.sub(r"\1", s)
    s = _UNBOX.sub(r"\1", s)
    s = _FRAC_SHORT.sub(r"frac{\1}{\2}", s)
    s = _SQRT_SHORT.sub(r"sqrt{\1}", s)
    s = s.replace("$", "")
    if s.replace(",", "").isdigit():
        s = s.replace(",", "")
    return s.strip()


def dapo_answer(completion: str) -> str | None:
    """The raw text after the last `Answer:` within the completion's last 300 characters, or None."""
    found = _ANSWER_LINE.findall(str(completion)[-DAPO_TAIL_CHARS:])
    return found[-1] if found else None


def dapo_rule_score(completion: str, ground_truth: str) -> tuple[float, bool]:
    """(1.0 or 0.0, whether an Answer line was found) under verl's DAPO rule.

    verl's scorer returns +1/-1 as its training reward and 1/0 as its accuracy (`acc`, what its
    validation reports); this is the accuracy. Under a group z-score the two give the same advantages.
    """
    answer = dapo_answer(completion)
    truth = minerva_normalise(str(ground_truth))
    prediction = minerva_normalise(answer if answer is not None else _NO_ANSWER)
    return float(prediction == truth), answer is not None
