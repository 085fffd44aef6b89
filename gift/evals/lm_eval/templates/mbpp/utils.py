"""MBPP metric for lm-eval: pass@1 of the generated code in the suite's sandbox; upstream's few-shot examples."""

from gift.evals.lm_eval.tasks import sandboxed_pass_at_1, upstream_mbpp_fewshot_samples


def pass_at_1(references: list[str], predictions: list[str]) -> float:
    """1.0 when the generated code passes the task's asserts in the sandbox, else 0.0 (never raises)."""
    return sandboxed_pass_at_1(references, predictions)


def list_fewshot_samples() -> list[dict]:
    """The three few-shot examples of the installed lm-eval mbpp task, read from its source."""
    return upstream_mbpp_fewshot_samples()
