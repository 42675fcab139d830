#!/bin/bash
# Where the CPU time of a LoRA step goes now (node --cpu-prof,
# summarised by bench/cpu-profile.py on the GPU machine), after the bind-group cache and the fused kernels.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for mode in lora-qv-r8 lora-qv-mlp-r8; do
  timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof-$mode .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 8 --modes $mode 2>&1 | grep '^{'
  python3 bench/cpu-profile.py /tmp/prof-$mode/*.cpuprofile 8 > $OUT/cpu-profile-$mode.txt; head -4 $OUT/cpu-profile-$mode.txt
done
