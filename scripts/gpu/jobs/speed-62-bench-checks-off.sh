#!/bin/bash
# The benchmark on the new default (webgpuChecks "off"), every mode,
# beside PyTorch fp32 and bf16; the kernel cases; a step's kernels timed exactly; then the matmul
# tiles again at the step's shapes, each product's kernels timed (the tiles were last ranked with
# Tint's clamps in place).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 80 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep '^{' | cut -c1-110
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
Q="disable-dawn-features=timestamp_quantization"
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --out $OUT/profile.json 2>&1 | grep "step"
timeout 200 node .gpu/app/matmul-tiles.mjs --kernel-time --dawn "$Q" --shapes 0,1,2,3,4,5,6,7,8,9,10,18,19,20,21 --tiles 128x128x16u,128x128x32u,128x64x16upt16x8,64x64x16ut8x8,64x128x16u --out $OUT/matmul-tiles.json 2>&1 | grep -v "^   "
