#!/bin/bash
# Double-buffered workgroup tiles again (Tile.double: one barrier a K
# step instead of two), now that the tiles are 2-D arrays (double buffering lost with
# flat, clamped indices in speed-11-double.sh). cur-*.mjs: the code as committed; dbl-*.mjs: the same with every tile
# pickTile chooses double-buffered. Kernel cases on dbl; tiles swept single and double at the step's
# shapes; GPU time a step cur / dbl / cur / dbl; the step-level A/B.
# It lost (results/benchmark/double-buffer-2d-ab-gpu.json): the double-buffered generator (Tile.double) was not kept.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/dbl-run-cases.mjs > $OUT/cases-dbl.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
timeout 170 node .gpu/app/cur-matmul-tiles.mjs --shapes 1,2,4,5,18,19,0,3,8,9,10 \
  --tiles 128x128x16u,128x128x16ud,128x64x16upt16x8,128x64x16updt16x8,64x128x16u,64x128x16ud \
  --out $OUT/matmul-tiles-double-2d.json 2>&1 | grep -v '^$' | tail -2
for side in cur dbl cur dbl; do
  timeout 60 node .gpu/app/$side-profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out /tmp/profile-$side-$RANDOM.json 2>&1 | grep 'ms of GPU' | sed "s/^/$side /"
done
python3 -c "
import json, glob
json.dump([dict(file=f, **{k: v for k, v in json.load(open(f)).items()}) for f in sorted(glob.glob('/tmp/profile-*.json'))], open('$OUT/profiles.json', 'w'))"
for round in 1 2; do
  for side in cur dbl; do
    timeout 50 node .gpu/app/$side-train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full --out /tmp/ab-$side-$round.json 2>&1 | grep '^{' | cut -c1-110 | sed "s/^/$side /"
  done
done
python3 -c "
import json, glob
runs = [dict(json.load(open(f)), file=f.split('/')[-1]) for f in sorted(glob.glob('/tmp/ab-*.json'))]
json.dump(runs, open('$OUT/ab.json', 'w'), indent=1)"
