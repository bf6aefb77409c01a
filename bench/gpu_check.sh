#!/usr/bin/env bash
# The GPU check, in one go on a machine with an NVIDIA GPU and the package registries: set up
# (dev.py installs FAISS's GPU build when nvidia-smi answers), then measure the GPU against the CPU
# side by side (`rlem bench --only gpu`: FAISS flat at 1M states, HNSW on the CPU beside it, MiniLM
# embeddings/s, SmolLM2 decisions/s at batch 1, 8 and 32 in bf16, the main job's wall time).
# Results go to $OUT/gpu if OUT is set, else bench/results/gpu/; the summary is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! nvidia-smi -L; then
    echo "gpu_check: nvidia-smi sees no GPU; this check measures a GPU against the CPU" >&2
    exit 1
fi
python3 dev.py setup
out="${OUT:-bench/results}/gpu"
.venv/bin/rlem bench --only gpu --out "$out"
cat "$out/bench.md"
