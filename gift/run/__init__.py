"""One training run: `gift train` from a run config to a resumable run directory.

- `config`: the run config (`RunConfig`), every field with its help, bounds and choices, checked once;
- `train`: the run: policy, reference, data, rewards, the method's trainer, checkpoints, `final/`;
- `directory`: the run directory: the check against an earlier run's config, resume, `DONE`;
- `recorder`: `metrics.jsonl`, one row per optimizer step, and the periodic evaluation;
- `rollout_engine`: TRL's colocated vLLM engine as the suite builds it, and the sampling both engines use;
- `vllm_sync`: weight sync to that engine under FSDP.
"""
