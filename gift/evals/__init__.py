"""Evaluators, one per subpackage, each writing the suite's eval-result JSON.

- `rlvr`: RLVR pass@1 (greedy, as verl validates) and sampled mean@k / pass@k on a prepared split;
- `lm_eval`: Table 2's lm-eval tasks (paper names or local twins), MBPP scored in the sandbox;
- `alpaca_eval`: AlpacaEval 2 with alpaca_eval's own metrics;
- `arena_hard`: Arena-Hard v2 with style-controlled Bradley-Terry scores;
- `judges`, `judge_client`: the judges AlpacaEval and Arena-Hard share (an OpenAI-compatible API, cached, or a
  reward model).
"""
