#!/bin/bash
# The code with the bind group cache and bounds-free whole
# tiles: each kernel of a LoRA and a full step timed on the GPU, then PyTorch + PEFT and ours
# once more (one run says little on hosts whose queue time varies by a third).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-step-gpu.json > $OUT/profile.log 2>&1; grep -i "kernel\|ms" $OUT/profile.log | head -12
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -4
