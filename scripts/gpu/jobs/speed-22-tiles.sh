#!/bin/bash
# Every tile variant at the step's matmul shapes again, now that whole
# tiles run without bounds checks (K steps of 32 added back), to re-pick the tiles.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 400 node .gpu/app/matmul-tiles.mjs --shapes 0,1,2,3,4,5,6,7,8,9,10,17,18,19 --out $OUT/matmul-tiles.json 2>&1 | grep -A1 'best'
