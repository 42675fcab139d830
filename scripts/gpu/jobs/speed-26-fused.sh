#!/bin/bash
# Attention's softmax + dropout fused; LoRA's x @ A and factor
# gradients on skinny kernels. Kernel cases; per-kernel GPU time with and without both changes
# (--unfused-softmax-dropout --tiled-lora-factors); PyTorch + PEFT and ours; a step-level A/B.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
BEFORE="--unfused-softmax-dropout --tiled-lora-factors"
timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8 --out $OUT/profile-new.json 2>&1 | grep 'ms of GPU'
timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8 $BEFORE --out $OUT/profile-old.json 2>&1 | grep 'ms of GPU'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -4
# The same two modes before and after, alternately, on this host.
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 $BEFORE --out $OUT/ab-before.json 2>&1 | grep '^{'
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 --out $OUT/ab-after.json 2>&1 | grep '^{'
