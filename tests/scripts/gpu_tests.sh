#!/usr/bin/env bash
# The GPU tests (`pytest -m gpu`) on ONE GPU, no network (models are built locally), each in a fresh process so
# that one test's vLLM engine does not hold the memory the next one needs. About 5-10 minutes on one H100/H200.
#   pip install -e ".[gpu,test]" && tests/scripts/gpu_tests.sh
#   tests/scripts/gpu_tests.sh --list     # the tests and the GPU it would use, without running them
# The `gpu` extra brings its own torch: vLLM 0.31 requires torch==2.13.0, the CUDA 13 build on PyPI, which
# needs an NVIDIA driver of 580 or later (see README.md, "Install").
# One GPU, whatever the machine has: TRL refuses several GPUs in one process, and the suite's vLLM evaluation
# spreads over every visible GPU (tensor parallelism the 2-head test policy cannot divide). The first of
# CUDA_VISIBLE_DEVICES is used (GPU 0 when unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES%%,*}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 PYTHONUNBUFFERED=1
# every test marked gpu, wherever it lives
mapfile -t tests < <(python -m pytest --collect-only -q -m gpu -p no:cacheprovider tests 2>/dev/null | grep '::')
if [[ "${1:-}" == "--list" ]]; then
    echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES}"
    printf '%s\n' "${tests[@]}"
    exit 0
fi
python - <<'PY'
import subprocess, torch, vllm
assert torch.cuda.is_available(), "no CUDA device (torch %s built for CUDA %s)" % (torch.__version__, torch.version.cuda)
driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                        text=True).stdout.split()
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), vLLM {vllm.__version__}, "
      f"{torch.cuda.get_device_name(0)}, driver {driver[0] if driver else '?'}")
PY
start=$(date +%s)
for test in "${tests[@]}"; do
    # -rs: a skipped test says why (e.g. MBPP's sandbox without user namespaces in this container)
    timeout 420 python -m pytest -q -rs -m gpu -p no:cacheprovider "${test}"
done
echo "GPU tests passed in $(( $(date +%s) - start )) s"
