#!/bin/bash
# The matmul tiles double-buffered (two workgroup tiles per operand,
# one barrier per K step) as TILES: kernel cases, PyTorch + PEFT beside ours, a per-kernel profile,
# our Sum over all axes but the last against tfjs's, and the sweep of every tile with and without double buffering and with K steps of 32.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 100 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -8
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-step-gpu.json > $OUT/profile.log 2>&1; head -8 $OUT/profile.log
timeout 30 node .gpu/app/column-sum.mjs --out $OUT/column-sum.json 2>&1 | grep -v "^=\|Hi, looks"
timeout 195 node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json 2>&1 | grep -v "^=\|Hi, looks"
