#!/bin/bash
# The GPU benchmark after the vec4 matmul, split K and the CPU-side cuts (bench/README.md),
# PyTorch + PEFT beside ours in one run, then a per-kernel profile of a LoRA and a full step.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -8
timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-step-gpu.json > $OUT/profile.log 2>&1; head -24 $OUT/profile.log
