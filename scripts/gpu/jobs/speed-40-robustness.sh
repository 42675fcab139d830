#!/bin/bash
# What bounds checking still costs after the 2-D tiles. Dawn's
# disable_robustness toggle turns off Tint's clamps (every storage and workgroup index); the same
# bundles (cur-*.mjs, commit cbd8ba1's code) with and without it, alternately: the step's tiles at
# the step's shapes, and the LoRA / full step.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
NR="enable-dawn-features=disable_robustness"
for round in 1 2; do
  timeout 80 node .gpu/app/cur-matmul-tiles.mjs --shapes 1,2,5,18,19,8,9 --tiles 128x128x16u,128x64x16upt16x8 --out $OUT/tiles-checked-$round.json 2>&1 | grep -v '^$' | tail -1
  timeout 80 node .gpu/app/cur-matmul-tiles.mjs --dawn $NR --shapes 1,2,5,18,19,8,9 --tiles 128x128x16u,128x64x16upt16x8 --out $OUT/tiles-unchecked-$round.json 2>&1 | grep -v '^$' | tail -1
  timeout 50 node .gpu/app/cur-train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full --out /tmp/ab-checked-$round.json 2>&1 | grep '^{' | cut -c1-120
  timeout 50 node .gpu/app/cur-train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full --dawn $NR --out /tmp/ab-unchecked-$round.json 2>&1 | grep '^{' | cut -c1-120
done
python3 -c "
import json, glob
runs = [dict(json.load(open(f)), file=f.split('/')[-1]) for f in sorted(glob.glob('/tmp/ab-*.json'))]
json.dump(runs, open('$OUT/ab.json', 'w'), indent=1)"
