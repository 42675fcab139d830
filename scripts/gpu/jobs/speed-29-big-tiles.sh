#!/bin/bash
# Tiles of 128 x 256 and 256 x 128 (8 x 16 sums per thread) against
# 128 x 128 at the large products; queue submits every 15 dispatches (tfjs's default) against 30,
# 60 and 120, alternately, in LoRA mode (the CPU profile of speed-28-cpu.sh had 3.8 ms a step in submits).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 240 node .gpu/app/matmul-tiles.mjs --shapes 1,2,4,5,17,18,19 --tiles 128x128x16u,128x256x16u,256x128x16u,128x256x8u,256x128x8u --out $OUT/matmul-tiles-big.json 2>&1 | grep -v '^$' | tail -16
for round in 1 2; do for b in 15 30 60 120; do
  timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 --submit-batch $b --out /tmp/submit-$b-$round.json 2>&1 | grep '^{' | cut -c1-150
done; done
python3 -c "
import json, glob
runs = [dict(json.load(open(f)), file=f.split('/')[-1]) for f in sorted(glob.glob('/tmp/submit-*.json'))]
json.dump(runs, open('$OUT/submit-batch.json', 'w'), indent=1)"
