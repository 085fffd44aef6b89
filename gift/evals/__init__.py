"""Evaluators: RLVR pass@1, lm-eval tasks, AlpacaEval 2 and Arena-Hard v2."""
