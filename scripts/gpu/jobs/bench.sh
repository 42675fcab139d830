#!/bin/bash
# The GPU benchmark (bench/README.md), PyTorch + PEFT beside ours in one run.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
# 50 warm-up steps each side: V8 compiles our step's JavaScript over its first tens of steps (bench/host-queue.ts).
python3 bench/torch_reference.py --warmup 50 --steps 30 --out $OUT/torch.json > $OUT/torch.log 2>&1
node .gpu/app/train-step.mjs --backend webgpu --warmup 50 --steps 30 --out $OUT/ours.json 2>&1 | tail -5
grep -h '"samples_per_second"' $OUT/torch.json | head -8
