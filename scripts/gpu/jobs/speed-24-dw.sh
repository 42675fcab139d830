#!/bin/bash
# Weights' gradients on our matmul with K split (full fine-tuning).
# Kernel cases; the dW shapes, tfjs against every tile as planned; PyTorch + PEFT and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
timeout 120 node .gpu/app/matmul-tiles.mjs --shapes 6,7,20,21 --out $OUT/matmul-tiles-dw.json 2>&1 | grep -A1 'best'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -4
