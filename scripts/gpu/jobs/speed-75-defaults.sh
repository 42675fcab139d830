#!/bin/bash
# The benchmark with the defaults (the attention as one kernel, gradients and saved tensors freed as
# the backward pass goes) and with the attention's weights stored (--stored-attention), in two
# alternate rounds after PyTorch + PEFT, alone on the GPU: the table of results/benchmark/bench-gpu.json.
# Carries .gpu/ (scripts/gpu/pack-app.sh bench/train-step.ts).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=$OUT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
step() { local name=$1; shift; timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 "$@" --out $R/ours-$name.json 2>&1 | grep '^{' | cut -c1-120; }
for round in 1 2; do
  step defaults-$round
  step stored-$round --stored-attention
done
grep -h '"samples_per_second"' $R/torch.json | head -4
echo "done at ${SECONDS}s"
