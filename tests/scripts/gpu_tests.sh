#!/usr/bin/env bash
# The GPU tests on one GPU, no network (models are built locally), each in a fresh process so that one
# test's vLLM engine does not hold the memory the next one needs. About 5-8 minutes on one H100/H200.
#   pip install -e ".[gpu,test]" && tests/scripts/gpu_tests.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1
python - <<'PY'
import torch, vllm
assert torch.cuda.is_available(), "no CUDA device"
print(f"torch {torch.__version__}, vLLM {vllm.__version__}, {torch.cuda.get_device_name(0)}")
PY
start=$(date +%s)
for test in "test_vllm_rollouts_train_and_evaluate[gift]" "test_vllm_rollouts_train_and_evaluate[grpo]" \
            test_vllm_evaluation_generation_matches_its_request test_lm_eval_runs_on_the_vllm_backend; do
    timeout 300 python -m pytest -q -m gpu -p no:cacheprovider "tests/test_gpu.py::${test}"
done
echo "GPU tests passed in $(( $(date +%s) - start )) s"
