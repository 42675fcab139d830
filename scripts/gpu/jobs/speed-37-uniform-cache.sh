#!/bin/bash
# Uniforms bound from buffers written once (lib/webgpu/uniforms.ts)
# against a write into a pooled buffer at every dispatch (--tfjs-uniforms). Kernel cases; the
# step-level A/B alternately (queue_ms is the CPU time it changes); a CPU profile of each side;
# GPU time a step; PyTorch + PEFT and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
OLD="--tfjs-uniforms"
for round in 1 2 3; do
  timeout 50 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full $OLD --out /tmp/ab-old-$round.json 2>&1 | grep '^{' | cut -c1-150
  timeout 50 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full --out /tmp/ab-new-$round.json 2>&1 | grep '^{' | cut -c1-150
done
python3 -c "
import json, glob
runs = [dict(json.load(open(f)), file=f.split('/')[-1]) for f in sorted(glob.glob('/tmp/ab-*.json'))]
json.dump(runs, open('$OUT/ab.json', 'w'), indent=1)"
for side in old new; do
  flag=""; [ $side = old ] && flag=$OLD
  timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof-$side .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 8 --modes lora-qv-r8 $flag --out /tmp/cpu-$side.json 2>&1 | grep '^{' | cut -c1-120
  python3 bench/cpu-profile.py /tmp/prof-$side/*.cpuprofile 8 > $OUT/cpu-lora-qv-r8-$side.txt 2>&1; head -1 $OUT/cpu-lora-qv-r8-$side.txt
done
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --out $OUT/profile.json 2>&1 | grep 'ms of GPU'
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-160
grep -h '"samples_per_second"' $OUT/torch.json | head -4
