#!/bin/bash
# Kernel cases (K split in any layout), then the tile sweep with
# unrolled tiles and K split for the products with few output tiles.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
timeout 400 node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json 2>&1 | grep -v "^ \|^=\|Hi, looks"
