#!/bin/bash
# The GPU benchmark (bench/README.md), PyTorch + PEFT beside ours in one run.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | tail -5
grep -h '"samples_per_second"' $OUT/torch.json | head -8
