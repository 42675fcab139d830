#!/bin/bash
# The matmul tiles' warps laid out 4 x 8 or 8 x 4 lanes instead of
# 2 x 16 (a warp then reads 4 + 8 distinct vec4s of the workgroup tiles per K step, not 2 + 16):
# the training step A/B in one run, then every tile variant at the step's shapes.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for round in 1 2; do
  for lanes in 2 4 8; do
    timeout 70 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8,full --warmup 4 --steps 10 --tile-lanes $lanes --out $OUT/ab-lanes$lanes-$round.json 2>&1 | grep '^{'
  done
done
timeout 330 node .gpu/app/matmul-tiles.mjs --shapes 0,1,2,3,4,5,6,7,8,9,10,17,18,19 --out $OUT/matmul-tiles-lanes.json 2>&1 | grep -v '^$' | grep -v 'Hi, looks\|=====\|tfjs-node'
