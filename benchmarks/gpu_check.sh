#!/usr/bin/env bash
# One GPU check, under 5 minutes on one H100/H200: ResNet-101 at 224, batch 64, fp32 and bf16 AMP —
# training, Grad-CAM and inference images/s. Run from the repository root with the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -m benchmarks.gpu_check --model resnet101 --size 224 --batch-size 64 --steps 20 "$@"
