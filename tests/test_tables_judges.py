"""Table 3 says which judge and which prompts scored each row, when the judge is not the paper's, and labels an
approximate LC win rate."""

from __future__ import annotations

import json
from pathlib import Path

from gift.report.inputs import load_eval_results
from gift.report.paper_values import load_paper_values
from gift.report.table_render import table_csv, table_latex, table_markdown
from gift.report.tables import build_reproduced_table, table_provenance
from tests.report_fixtures import write_eval_json


def _with_details(path: Path, details: dict, approx: dict | None = None) -> Path:
    doc = json.loads(path.read_text())
    doc["details"] = details
    for key, flag in (approx or {}).items():
        doc["metrics"][key]["approx"] = flag
    path.write_text(json.dumps(doc))
    return path


def _table(tmp_path: Path, lc_exact: bool, alpaca_judge: str, same: bool):
    grid = [{"run_id": "g", "model_id": "g", "model_label": "7B-GIFT", "paper_row": "7B-GIFT", "seed": 0,
             "tables": ["table3"]}]
    a = write_eval_json(tmp_path / "g" / "alpaca_eval.json", "g", "alpaca_eval",
                        {"lc_win_rate": 47.0, "win_rate": 70.0, "avg_length": 4000.0})
    _with_details(a, {"judge": alpaca_judge, "paper_judge": "api:weighted_alpaca_eval_gpt4_turbo",
                      "judge_is_paper_judge": same, "lc_exact": lc_exact}, {"lc_win_rate": not lc_exact})
    h = write_eval_json(tmp_path / "g" / "arena_hard.json", "g", "arena_hard",
                        {"hard_prompts_style_control": 3.1, "creative_writing": 16.0})
    _with_details(h, {"judge": "api:gpt-4.1", "paper_judge": "api:gpt-4.1", "judge_is_paper_judge": True,
                      "judge_prompts": {"source": "official", "repo": "lmarena/arena-hard-auto",
                                        "commit": "196f6b826783b3da7310e361a805fa36f0be83f3",
                                        "sha256": "ab" * 32}})
    evals, _ = load_eval_results([a, h])
    return build_reproduced_table(load_paper_values()["table3"], grid, evals, "test")


def test_a_replacement_judge_and_an_approximate_lc_are_said_in_the_table(tmp_path):
    rt = _table(tmp_path, lc_exact=False, alpaca_judge="api:gpt-4o-mini-2024-07-18", same=False)
    md = table_markdown(rt)
    assert "AE LC WR (approx.) (%)" in md and "AE WR (%)" in md  # only the LC column carries the mark
    assert "not the paper's judge (api:weighted_alpaca_eval_gpt4_turbo)" in md and "not comparable" in md
    assert "official (lmarena/arena-hard-auto 196f6b8267), sha256 abababababab" in md
    assert "AE LC WR (approx.)" in table_latex(rt) and "AE LC WR (approx.)" in table_csv(rt)
    assert {j["eval"] for j in table_provenance(rt)["judging"]} == {"alpaca_eval", "arena_hard"}


def test_the_papers_judge_and_the_leaderboards_lc_carry_no_warning(tmp_path):
    rt = _table(tmp_path, lc_exact=True, alpaca_judge="api:gpt-4-1106-preview", same=True)
    md = table_markdown(rt)
    assert "(approx.)" not in md and "not comparable" not in md
    assert "leaderboard's" in md and "(same)" in md
