#!/bin/bash
# The tile sweep with unrolled K loops (u) and padded, conflict-free
# staging (p), then a CPU profile of queuing LoRA q+v and q+v+mlp steps.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
timeout 300 node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json 2>&1 | grep -v "^ \|^=\|Hi, looks"
for mode in lora-qv-r8 lora-qv-mlp-r8; do
  timeout 60 node --cpu-prof --cpu-prof-dir=$OUT/prof-$mode .gpu/app/train-step.mjs --backend webgpu --modes $mode --warmup 4 --steps 10 2>&1 | grep '^{'
done
