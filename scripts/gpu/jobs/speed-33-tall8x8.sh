#!/bin/bash
# The 128-thread tile tall8x8 (8 x 8 sums a thread) picked for the
# attention products with 64 columns and the 768 x 768 projections. Kernel cases; a second sweep of
# the candidates at those shapes; GPU time a step with and without (--tiles-of-256-threads), in both
# orders; PyTorch + PEFT and ours; the step-level A/B, alternately.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
timeout 200 node .gpu/app/matmul-tiles.mjs --shapes 9,0,10,3,8,2,5 \
  --tiles 128x64x16up,64x128x16u,128x128x16u,128x64x16upt16x8,128x64x16ut16x8,64x64x16ut8x8,128x64x8upt16x8,128x64x32upt16x8,128x128x8ut16x8,128x128x8ut8x16 \
  --out $OUT/matmul-tiles-threads-2.json 2>&1 | grep -v '^$' | tail -14
OLD="--tiles-of-256-threads"
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-new.json 2>&1 | grep 'ms of GPU'
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full $OLD --out $OUT/profile-old.json 2>&1 | grep 'ms of GPU'
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out /tmp/profile-new-2.json 2>&1 | grep 'ms of GPU'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-160
grep -h '"samples_per_second"' $OUT/torch.json | head -4
for round in 1 2; do
  timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 $OLD --out /tmp/ab-old-$round.json 2>&1 | grep '^{' | cut -c1-120
  timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 --out /tmp/ab-new-$round.json 2>&1 | grep '^{' | cut -c1-120
done
python3 -c "
import json, glob
runs = [dict(json.load(open(f)), file=f.split('/')[-1]) for f in sorted(glob.glob('/tmp/ab-*.json'))]
json.dump(runs, open('$OUT/ab.json', 'w'), indent=1)"
