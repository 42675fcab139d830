#!/bin/bash
# The product x @ A on the skinny kernel with B laid out [N, K] first; LoRA's
# scale on q and v applied by the head-split kernel (no multiply each way). Kernel cases; per-kernel
# GPU time; PyTorch + PEFT and ours; the step A/B of speed-26-fused.sh again (--unfused-softmax-dropout
# --tiled-lora-factors: both of its changes off, this job's scale kernel on in both).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
BEFORE="--unfused-softmax-dropout --tiled-lora-factors"
timeout 120 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --out $OUT/profile.json 2>&1 | grep 'ms of GPU'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -4
for i in 1 2; do
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 $BEFORE --out $OUT/ab-before-$i.json 2>&1 | grep '^{'
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 --out $OUT/ab-after-$i.json 2>&1 | grep '^{'
done
