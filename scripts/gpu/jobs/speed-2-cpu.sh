#!/bin/bash
# Steps are bound by the CPU (queue_ms ~ step_ms). The training step
# after cutting CPU costs (uploads by writeBuffer, remembered bind group layouts, WGSL written only
# at compile), with two submit batch sizes; a CPU profile; what each Dawn call costs; the matmul
# tiles timed again (best of five).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 100 node .gpu/app/dawn-calls.mjs --out $OUT/dawn-calls.json
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
for b in 30 60; do timeout 60 node .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 10 --modes lora-qv-r8 --submit-batch $b 2>&1 | grep '^{'; done
timeout 90 node --cpu-prof --cpu-prof-dir=$OUT/prof .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 20 --modes lora-qv-r8 2>&1 | grep '^{'
timeout 200 node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json 2>&1 | grep -v '^$' | tail -40
