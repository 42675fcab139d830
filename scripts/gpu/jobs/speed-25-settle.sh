#!/bin/bash
# Which steps still make bind groups in LoRA mode at distilbert-base's
# shape (426 of 453 came from the cache on average over 10 steps): bind groups made per step, 10 and
# 30 timed steps.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 60 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8,full --warmup 4 --steps 10 --out $OUT/settle-10.json 2>&1 | grep '^{'
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8 --warmup 4 --steps 30 --out $OUT/settle-30.json 2>&1 | grep '^{'
