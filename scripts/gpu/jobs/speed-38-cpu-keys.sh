#!/bin/bash
# The CPU side of a step. New: the uniform cache and both caches keyed
# by numeric hashes (commit cbd8ba1); old-train-step.mjs: the same entry bundled from ae3d701 (2-D
# tiles, string-keyed bind groups, every dispatch's uniforms written). LoRA q,v step-level A/B,
# four rounds alternately (queue_ms is the CPU time a step takes to queue); a CPU profile of each
# side, twice; PyTorch + PEFT and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for round in 1 2 3 4; do
  timeout 40 node .gpu/app/old-train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8 --out /tmp/ab-old-$round.json 2>&1 | grep '^{' | cut -c1-150
  timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8 --out /tmp/ab-new-$round.json 2>&1 | grep '^{' | cut -c1-150
done
python3 -c "
import json, glob
runs = [dict(json.load(open(f)), file=f.split('/')[-1]) for f in sorted(glob.glob('/tmp/ab-*.json'))]
json.dump(runs, open('$OUT/ab.json', 'w'), indent=1)"
for round in 1 2; do
  for side in old new; do
    app=.gpu/app/train-step.mjs; [ $side = old ] && app=.gpu/app/old-train-step.mjs
    rm -rf /tmp/prof; timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof $app --backend webgpu --warmup 4 --steps 8 --modes lora-qv-r8 --out /tmp/cpu.json 2>&1 | grep '^{' | cut -c1-120
    python3 bench/cpu-profile.py /tmp/prof/*.cpuprofile 8 > $OUT/cpu-lora-qv-r8-$side-$round.txt 2>&1; head -1 $OUT/cpu-lora-qv-r8-$side-$round.txt
  done
done
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-160
grep -h '"samples_per_second"' $OUT/torch.json | head -4
