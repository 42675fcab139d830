#!/bin/bash
# The attention as one kernel that never stores its T x T weights (lib/webgpu/flash-attention.ts)
# against the products and fused softmax + dropout it replaced (--stored-attention).
#   speed-72-flash-attention.sh bench    PyTorch + PEFT, then ours both ways in two alternate rounds,
#                                        every mode (speed, CPU queue time, peak memory); what is
#                                        alive at a step's memory peak both ways
#   speed-72-flash-attention.sh kernels  the kernel cases on this GPU; the LoRA and full steps kernel
#                                        by kernel both ways
# Carries .gpu/ (scripts/gpu/pack-app.sh bench/train-step.ts bench/profile-step.ts bench/memory-breakdown.ts test/webgpu/run-cases.ts).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/flash-$1; mkdir -p $R
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
if [ "$1" = bench ]; then
  timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$?"
  for round in 1 2; do
    timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $R/ours-flash-$round.json 2>&1 | grep '^{' | cut -c1-160
    timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --stored-attention --out $R/ours-stored-$round.json 2>&1 | grep '^{' | cut -c1-160
  done
  grep -h '"samples_per_second"' $R/torch.json | cut -c1-160 | head -8
  timeout 100 node .gpu/app/memory-breakdown.mjs --backend webgpu --stored-attention --out $R/memory-stored.json > $R/memory-stored.log 2>&1; echo "memory rc=$?"
  timeout 100 node .gpu/app/memory-breakdown.mjs --backend webgpu --out $R/memory-flash.json > $R/memory-flash.log 2>&1; echo "memory rc=$?"
else
  timeout 200 node .gpu/app/run-cases.mjs > $R/cases.json 2> $R/cases.log; echo "cases rc=$?"
  timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $R/profile-flash.json 2>&1 | grep 'ms of GPU'
  timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --stored-attention --out $R/profile-stored.json 2>&1 | grep 'ms of GPU'
fi
tar czf $OUT/flash-$1.tgz -C $R .
