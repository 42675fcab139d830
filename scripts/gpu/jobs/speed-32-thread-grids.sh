#!/bin/bash
# Matmul tiles on 128 threads (16 x 8 or 8 x 16 thread grids, 8 x 16
# sums a thread on 128 x 128 tiles, 8 x 8 on 128 x 64 and 64 x 128) and 64 threads (64 x 64),
# against the tiles training picks now (256 threads), at every product of a LoRA step and 4096^3.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 420 node .gpu/app/matmul-tiles.mjs --shapes 0,1,2,3,4,5,8,9,10,17,18,19 \
  --tiles 128x128x16u,128x64x16up,64x128x16u,128x128x16ut16x8,128x128x16ut8x16,128x64x16upt16x8,128x64x16ut16x8,64x128x16ut8x16,64x64x16ut8x8,128x128x8ut16x8 \
  --out $OUT/matmul-tiles-threads.json 2>&1 | grep -v '^$' | tail -40
