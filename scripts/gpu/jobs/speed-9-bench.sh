#!/bin/bash
# LoRA's r = 8 products by the skinny kernels (lib/webgpu/skinny.ts), on top of
# speed-8-bench.sh: kernel cases, PyTorch + PEFT beside ours (twice), a per-kernel profile, the matmul sweep.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours-again.json 2>&1 | grep '^{'  # the same again: this host's run-to-run noise
grep -h '"samples_per_second"' $OUT/torch.json | head -8
timeout 90 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-step-gpu.json > $OUT/profile.log 2>&1; head -24 $OUT/profile.log
timeout 300 node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json 2>&1 | grep -v "^ \|^=\|Hi, looks"
