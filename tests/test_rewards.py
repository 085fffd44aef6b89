"""Verifiable rewards on real-format and adversarial completions; the reward-model reward."""

from __future__ import annotations

import math
import threading

import pytest

from gift.rewards import (
    RewardModelScorer,
    check_reward_args,
    extract_boxed,
    extract_dapo,
    extract_gsm8k,
    extract_gsm8k_lenient,
    make_reward_function,
    normalize_number,
    score_verifiable,
    verifiable_reward,
)
from tests.verl_reward_cases import CASES, PAD


@pytest.mark.parametrize("completion, expected", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72", "72"),
    ("#### 3 is a guess, but after checking, the answer is\n#### 5", "5"),  # last wins
    ("The total is #### 12 apples\nso", "12"),  # '####' mid-text
    ("#### 1,234", "1234"),  # commas removed
    ("#### 1,234,567.50", "1234567.50"),  # nothing else normalised
    ("#### 42.", "42."),  # the class [0-9.,] takes the trailing dot
    ("#### -7", "-7"),
    ("#### \u22127", None),  # a unicode minus is not '-'
    ("#### $42", None),  # '$' is not in the class
    ("####42", None),  # the space after '####' is part of the pattern
    ("no marker at all: 42", None),
    ("####", None),
    ("#### seven", None),
    ("", None),
])
def test_gsm8k_extracts_verls_strict_answer(completion, expected):
    # Expected values follow verl's rule by hand: re.findall('#### (\\-?[0-9\\.\\,]+)') on the last
    # 300 characters, the last match with ',' removed.
    assert extract_gsm8k(completion) == expected


@pytest.mark.parametrize("completion, truth, reward", [
    ("so 6*3=18\n#### 18", "18", 1.0),
    ("#### 18.", "18", 0.0),  # '18.' != '18'
    ("#### 18.00", "18", 0.0),  # '18.00' != '18'
    ("#### $18", "18", 0.0),  # no match at all
    ("#### 1,000", "1000", 1.0),  # '1,000' -> '1000'
    ("#### 17\nchecking again\n#### 18", "18", 1.0),  # two '####' lines: the last counts
    ("#### 18\nchecking again\n#### 17", "18", 0.0),
    ("the answer is 18", "18", 0.0),
    # only the last 300 characters are read: an answer followed by 300 more characters is not seen
    ("#### 18\n" + "x" * 300, "18", 0.0),
    ("x" * 500 + "\n#### 18", "18", 1.0),
])
def test_gsm8k_reward_is_verls_rule(completion, truth, reward):
    assert verifiable_reward("gsm8k", completion, truth) == reward


@pytest.mark.parametrize("completion, expected", [
    ("#### 3 is a guess, but after checking, the answer is\n#### 5", "5"),
    ("#### \u22127", "-7"),  # unicode minus
    ("#### 1,234", "1234"),
    ("#### 1,234,567.50", "1234567.5"),
    ("#### $42.", "42"),
    ("#### 42.0", "42"),
    ("no marker at all: 42", None),
    ("#### seven", None),
])
def test_gsm8k_lenient_normalises_the_number(completion, expected):
    assert extract_gsm8k_lenient(completion) == expected


@pytest.mark.parametrize("completion, reward", [
    ("#### 18", 1.0), ("#### 18.", 1.0), ("#### 18.00", 1.0), ("#### $18", 1.0), ("#### 17\n#### 18", 1.0),
    ("#### 18\n#### 17", 0.0), ("the answer is 18", 0.0),
])
def test_gsm8k_lenient_reward_accepts_the_formats_verl_rejects(completion, reward):
    assert verifiable_reward("gsm8k_lenient", completion, "18") == reward
    assert verifiable_reward("gsm8k_lenient", "#### 1,000", "1000") == 1.0


@pytest.mark.parametrize("text, expected", [
    ("so $\\boxed{5}$", "5"),
    ("first \\boxed{1} then \\boxed{2}", "2"),  # several boxes: the last
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
    ("\\boxed{\\sqrt{\\frac{a}{b^{2}}}}", "\\sqrt{\\frac{a}{b^{2}}}"),
    ("\\boxed 7", "7"),
    ("\\fbox{9}", "9"),
    ("\\boxed{3} and an unclosed \\boxed{4", "3"),
    ("\\boxed{}", None),
    ("no box", None),
    ("", None),
])
def test_extract_boxed_handles_nesting_and_several_boxes(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize("completion, truth, expected", [
    ("so $\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}", 1.0),
    ("so $\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}", 1.0),
    ("so $\\boxed{0.5}$", "\\frac{1}{2}", 1.0),
    ("so $\\boxed{\\frac{2}{4}}$", "\\frac{1}{2}", 1.0),
    ("so $\\boxed{\\frac{1}{3}}$", "\\frac{1}{2}", 0.0),
    ("\\boxed{1+x^2}", "x^2+1", 1.0),
    ("\\boxed{\u22123}", "-3", 1.0),
    ("\\boxed{1,000}", "1000", 1.0),
    ("\\boxed{2} wait, actually \\boxed{3}", "3", 1.0),
    ("\\boxed{3} wait, actually \\boxed{2}", "3", 0.0),
    ("the answer is 3", "3", 0.0),
    ("", "3", 0.0),
])
def test_math_verify_reward_checks_equivalence_of_the_last_box(completion, truth, expected):
    assert verifiable_reward("math_verify", completion, truth) == expected


@pytest.mark.parametrize("completion, truth, expected", [
    ("1+2=3\nAnswer: 3", "3", 1.0),
    ("Answer: 5\nhmm, no.\nAnswer: 7", "7", 1.0),  # the last Answer line
    ("answer: $204$.", "204", 1.0),
    ("Answer: \\boxed{33}", "33", 1.0),
    ("no answer line but \\boxed{33}", "33", 1.0),  # boxed fallback
    ("Answer: 34", "33", 0.0),
    ("I don't know", "33", 0.0),
    ("", "33", 0.0),
])
def test_dapo_verify_reward_prefers_the_answer_line_then_the_box(completion, truth, expected):
    assert verifiable_reward("dapo_verify", completion, truth) == expected


@pytest.mark.parametrize("kind, completion, truth, expected", CASES,
                         ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_verl_rules_give_verls_reward(kind, completion, truth, expected):
    # expected: verl's own scorer files run on the same input (tests/verl_reward_cases.py names the commit)
    assert verifiable_reward(kind, completion, truth) == expected


@pytest.mark.parametrize("kind, completion, truth", [
    ("dapo", "The sum is 40+2, so $\\boxed{42}$.", "42"),  # no Answer line
    ("dapo", "Answer: 42\n" + PAD, "42"),  # the Answer line lies before the last 300 characters
    ("dapo", "Answer: 42.0", "42"),  # no numeric comparison
    ("math", "so $\\boxed{0.25}$", "\\frac{1}{4}"),  # only 0.5 is rewritten as a fraction
    ("math", "so $\\boxed{\\frac{2}{4}}$", "\\frac{1}{2}"),  # no simplification
])
def test_author_rules_reject_what_math_verify_accepts(kind, completion, truth):
    assert verifiable_reward(kind, completion, truth) == 0.0
    assert verifiable_reward(f"{kind}_verify", completion, truth) == 1.0


def test_verl_rule_cases_cover_every_normalisation_edge():
    # the table must keep a case for each edge the rules differ on (it is the contract with verl's files)
    texts = {kind: " ".join(c + " " + t for k, c, t, _ in CASES if k == kind) for kind in ("math", "dapo")}
    for kind, text in texts.items():
        for edge in ("\\text{", "\\!", "dfrac", "tfrac", "sqrt", "0.5", "\\left(", "^\\circ", "\\$", "x =",
                     "\\fbox", "cm"):
            assert edge in text, (kind, edge)
    assert {e for k, _, _, e in CASES} == {0.0, 1.0}


def test_math_and_dapo_rules_report_whether_an_answer_was_found():
    assert score_verifiable("math", "no box here", "5") == (0.0, False)
    assert score_verifiable("math", "\\fbox{5}", "5") == (0.0, False)
    assert score_verifiable("math", "\\boxed{4}", "5") == (0.0, True)
    assert score_verifiable("dapo", "\\boxed{5}", "5") == (0.0, False)
    assert score_verifiable("dapo", "Answer: 4", "5") == (0.0, True)
    f = make_reward_function("dapo")
    assert f(["q"] * 3, ["Answer: 5", "5", "Answer: 6"], ground_truth=["5"] * 3) == [1.0, 0.0, 0.0]
    assert f.stats()["unparsed"] == 1


def test_rule_rewards_take_no_verify_time_limit():
    check_reward_args("math_verify", {"verify_cpu_s": 2})
    for kind in ("math", "dapo"):
        with pytest.raises(ValueError, match="verify_cpu_s"):
            check_reward_args(kind, {"verify_cpu_s": 2})


def test_dapo_answer_line_wins_over_a_box():
    assert extract_dapo("\\boxed{1}\nAnswer: 2") == "2"


def test_normalize_number_rejects_non_numbers():
    assert normalize_number("1,2,3") is None
    assert normalize_number("12a") is None
    assert normalize_number("-0.50") == "-0.5"


def test_reward_function_counts_unparsed_and_errors_without_raising():
    f = make_reward_function("gsm8k")
    assert f.__name__ == "gsm8k_reward"
    completions = ["#### 4", "no answer", [{"role": "assistant", "content": "#### 5"}], "#### 4"]
    rewards = f(prompts=["q"] * 4, completions=completions, ground_truth=["4", "4", "5", None])
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    assert f.stats() == {"calls": 1, "completions": 4, "unparsed": 1, "errors": 1, "timeouts": 0}


def test_reward_function_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown reward"):
        make_reward_function("gsm9k")
    with pytest.raises(ValueError, match="needs model"):
        make_reward_function("reward_model")


def test_math_verify_reward_works_off_the_main_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(verifiable_reward("math_verify", "\\boxed{\\frac{2}{4}}", "\\frac12")))
    t.start()
    t.join()
    assert out == [1.0]


def test_reward_model_score_is_logit_over_sqrt_response_tokens(tiny_model_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    prompts = [[{"role": "user", "content": "Reverse the word cat."}], "How many letters are in dog?"]
    responses = ["tac", "The word dog has 3 letters. I hope this helps!"]
    scorer = RewardModelScorer(model, tok, batch_size=1, length_normalize=True, device="cpu")
    got = scorer(prompts, responses)
    # Independent computation: one unpadded forward per pair, last position's logit.
    for p, r, g in zip(prompts, responses, got, strict=True):
        msgs = ([{"role": "user", "content": p}] if isinstance(p, str) else p) + [{"role": "assistant", "content": r}]
        ids = tok(tok.apply_chat_template(msgs, tokenize=False), return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            logit = model(**ids).logits[0, 0].item()
        n = len(tok(r, add_special_tokens=False)["input_ids"])
        assert g == pytest.approx(logit / math.sqrt(n), rel=1e-4, abs=1e-5)
    # Batching with padding gives the same raw scores.
    batched = RewardModelScorer(model, tok, batch_size=8, length_normalize=False, device="cpu")
    single = RewardModelScorer(model, tok, batch_size=1, length_normalize=False, device="cpu")
    assert batched.raw_scores(prompts, responses) == pytest.approx(single.raw_scores(prompts, responses), abs=1e-5)


def test_reward_model_reward_function_counts_errors(tiny_model_dir):
    f = make_reward_function("reward_model", model=str(tiny_model_dir), batch_size=2)
    assert len(f(["hi", "yo"], ["a", "b"])) == 2

    def broken(prompts, completions):
        raise RuntimeError("boom")

    f.scorer = broken
    assert f(["hi"], ["a"]) == [0.0]
    assert f.stats()["errors"] == 1
