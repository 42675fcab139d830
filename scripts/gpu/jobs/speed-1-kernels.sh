#!/bin/bash
# The vec4 matmul kernel and split K, checked and timed on the H200.
# Kernel cases against the cpu backend; the training step with and without Dawn's robustness
# transform; every tile at every matmul shape of a step; a per-kernel profile.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
NR="enable-dawn-features=disable_robustness"
timeout 120 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "cases rc=$?"
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 8 --out $OUT/ours.json 2>&1 | grep '^{'
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 8 --dawn $NR --out $OUT/ours-norobust.json 2>&1 | grep '^{'
timeout 150 node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json 2>&1 | grep -v '^$' | tail -40
timeout 60 node .gpu/app/matmul-tiles.mjs --dawn $NR --shapes 0,1,3,7 --out $OUT/matmul-tiles-norobust.json 2>&1 | grep -v '^$' | tail -10
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile.json > $OUT/profile.log 2>&1; head -30 $OUT/profile.log
