#!/bin/bash
# Matmul code without bounds checks where the tiles cover the product
# exactly. Kernel cases; each shape as training routes it, exact against checked; PyTorch + PEFT and
# ours in every mode; the step with checked tiles and exact ones, alternating.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
timeout 120 node .gpu/app/matmul-tiles.mjs --exact-ab --shapes 0,1,2,3,4,5,8,9,10,17,18,19 --out $OUT/exact-ab.json 2>&1 | grep 'TF/s'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
for round in 1 2; do
  timeout 50 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8,full --warmup 4 --steps 10 --checked-tiles --out $OUT/ab-checked-$round.json 2>&1 | grep '^{'
  timeout 50 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8,full --warmup 4 --steps 10 --out $OUT/ab-exact-$round.json 2>&1 | grep '^{'
done
grep -h '"samples_per_second"' $OUT/torch.json | head -4
