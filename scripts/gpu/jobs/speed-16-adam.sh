#!/bin/bash
# Adam in place, one dispatch per parameter. Kernel cases; PyTorch +
# PEFT beside ours; the CPU profile of a full-mode step; the per-kernel profile.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 100 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -8
timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof-full .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 8 --modes full 2>&1 | grep '^{'
python3 bench/cpu-profile.py /tmp/prof-full/*.cpuprofile 8 > $OUT/cpu-profile-full.txt; head -40 $OUT/cpu-profile-full.txt
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-step-gpu.json > $OUT/profile.log 2>&1; head -8 $OUT/profile.log
