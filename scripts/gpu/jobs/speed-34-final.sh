#!/bin/bash
# The tile tall8x8 where the K is 64 or more (LoRA's K = 8 products back on the
# tiles of 256 threads, which speed-33-tall8x8.sh's profile read faster). Kernel cases; GPU time a step with and
# without (--tiles-of-256-threads), new-old-new; PyTorch + PEFT and ours; the step-level A/B,
# alternately; a CPU profile of the LoRA step.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
OLD="--tiles-of-256-threads"
MODES="lora-qv-r8,lora-qv-mlp-r8,full"
timeout 70 node .gpu/app/profile-step.mjs --backend webgpu --modes $MODES --out $OUT/profile-new.json 2>&1 | grep 'ms of GPU'
timeout 70 node .gpu/app/profile-step.mjs --backend webgpu --modes $MODES $OLD --out $OUT/profile-old.json 2>&1 | grep 'ms of GPU'
timeout 70 node .gpu/app/profile-step.mjs --backend webgpu --modes $MODES --out $OUT/profile-new-2.json 2>&1 | grep 'ms of GPU'
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
timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 8 --modes lora-qv-r8 --out /tmp/cpu-run.json 2>&1 | grep '^{' | cut -c1-120
python3 bench/cpu-profile.py /tmp/prof/*.cpuprofile 8 > $OUT/cpu-lora-qv-r8.txt 2>&1; head -3 $OUT/cpu-lora-qv-r8.txt
