#!/bin/bash
# The matmul's workgroup tiles as 2-D arrays, tile[k][m / 4], so that
# Tint's bounds clamp on each workgroup load is the same loop-invariant min(threadRow + c, S - 1)
# at every k (the driver computes it once) instead of a fresh min(k * S + c + threadRow, ...) at each
# of the 64 loads per K step. old-*.mjs are the same entries bundled from the flat-array code.
# Kernel cases; tiles at the step's shapes, new then old; GPU time a step new / old / new.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
SHAPES=1,2,5,17,18,19,0,3,9,10,8
timeout 150 node .gpu/app/matmul-tiles.mjs --shapes $SHAPES --tiles 128x128x16u,128x64x16upt16x8,128x128x16ut16x8,128x128x32u \
  --out $OUT/matmul-tiles-2d.json 2>&1 | grep -v '^$' | tail -3
timeout 120 node .gpu/app/old-matmul-tiles.mjs --shapes $SHAPES --tiles 128x128x16u,128x64x16upt16x8 \
  --out $OUT/matmul-tiles-flat.json 2>&1 | grep -v '^$' | tail -3
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-new.json 2>&1 | grep 'ms of GPU'
timeout 60 node .gpu/app/old-profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-old.json 2>&1 | grep 'ms of GPU'
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-new-2.json 2>&1 | grep 'ms of GPU'
