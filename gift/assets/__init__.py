"""Files the library reads at run time, shipped inside the package so that a wheel install finds them.

- ``schemas/config.schema.yaml``: the workflow config's JSON schema (`gift.grid`, the Snakefile);
- ``paper_values.yaml``: the numbers the paper reports in Tables 2 and 3 (`gift.report.paper_values`);
- ``arena_hard/judge_prompts.yaml``: the Arena-Hard judge prompts (`gift.evals.arena_hard`);
- ``lm_eval/``: templates of the lm-eval task twins and of ``mbpp_sandboxed`` (`gift.evals.lm_eval_tasks`);
- ``alpaca_eval/README.md``: where AlpacaEval 2's instruction set comes from (it is not shipped).
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent


def asset_path(*parts: str) -> Path:
    """The path of a shipped asset, e.g. ``asset_path("schemas", "config.schema.yaml")``."""
    return ASSETS_DIR.joinpath(*parts)
