#!/usr/bin/env bash
# The GPU check for a short borrowed machine: one GPU, nothing downloaded, under 8 minutes. It trains GIFT
# (rollout reference) and GRPO for a few bf16 updates with HF generation on a random Qwen2-0.5B-shaped policy and
# prints finite losses, fp32 weights and Adam moments, gift.gpu_memory's prediction against the measured peak,
# and seconds per update; with $OUT set it also writes $OUT/device_check.json.
#
#   tests/scripts/device_check.sh --build-wheels DIR   # here, with network: TRL (pure Python) and the suite as
#                                                      # wheels, no dependencies, and their total size
#   tests/scripts/device_check.sh --wheels DIR         # there: installs DIR/*.whl --no-deps into a venv that
#                                                      # sees the machine's torch/transformers/accelerate
#   tests/scripts/device_check.sh --cpu                # the same on a tiny model on the CPU (no CUDA call)
# The suite runs from this checkout (PYTHONPATH); TRL must come along where the machine lacks it, and TRL
# imports datasets (with pyarrow and pandas) at import time: the check names whatever is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
wheels="" args=()
while (( $# )); do
    case "$1" in
        --build-wheels)
            dir="$2"; mkdir -p "$dir"
            trl_version=$(python -c "import importlib.metadata as m; print(m.version('trl'))")
            python -m pip wheel --no-deps --quiet "trl==${trl_version}" -w "$dir"
            python -m pip wheel --no-deps --quiet . -w "$dir"
            ls -l "$dir"/*.whl
            du -cb "$dir"/*.whl | awk 'END {printf "total %.1f MiB (limit 64 MiB)\n", $1 / 1048576}'
            exit 0 ;;
        --wheels) wheels="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
python=python
if [[ -n "$wheels" ]]; then
    venv="${TMPDIR:-/tmp}/gift-device-venv"
    python -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --no-deps --no-index --ignore-installed "$wheels"/*.whl
    python="$venv/bin/python"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec timeout 470 "$python" tests/scripts/device_check.py "${args[@]}"
