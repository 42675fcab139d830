#!/bin/bash
# Where the CPU time of a last-layers and a LoRA step goes (node
# --cpu-prof, summarised by bench/cpu-profile.py on the GPU machine), and a full-mode run with
# LayerNorm's weight gradient through the forward kernel.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for mode in last-layers lora-qv-r8; do
  timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof-$mode .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 8 --modes $mode 2>&1 | grep '^{'
  python3 bench/cpu-profile.py /tmp/prof-$mode/*.cpuprofile 8 > $OUT/cpu-profile-$mode.txt; head -60 $OUT/cpu-profile-$mode.txt
done
timeout 60 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes full 2>&1 | grep '^{'
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes full --out $OUT/profile-full.json > $OUT/profile.log 2>&1; head -8 $OUT/profile.log
