#!/bin/bash
# The code of commit 106bcee (fused softmax + dropout, skinny LoRA
# kernels, LoRA's scale in the head split, frozen q, k, v weights kept side by side, buffer ages on
# the buffers). Kernel cases; per-kernel GPU time of three modes; PyTorch + PEFT and ours, twice.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
timeout 120 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --out $OUT/profile.json 2>&1 | grep 'ms of GPU'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
grep -h '"samples_per_second"' $OUT/torch.json | head -4
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours-1.json 2>&1 | grep '^{' | cut -c1-170
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours-2.json 2>&1 | grep '^{' | cut -c1-170
