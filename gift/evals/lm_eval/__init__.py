"""Table 2's lm-eval tasks (`gift eval lm-eval`).

- `tasks`: the seven columns, the MBPP metric that runs in the sandbox, the task folders materialised;
- `twins`: synthetic data for each benchmark in its real schema (smoke and tiny configs);
- `runner`: one model through lm-eval (transformers or vLLM), summarised as an eval result;
- `templates/`: the task YAMLs of the twins and of `mbpp_sandboxed` (with the metric's `utils.py`).
"""
