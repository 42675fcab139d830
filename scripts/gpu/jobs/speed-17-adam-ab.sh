#!/bin/bash
# Adam in place against the three-kernel update, alternately on one
# machine (speed-15-final.sh and speed-16-adam.sh ran on hosts whose CPU time per step differed by a third).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for i in 1 2 3; do
  echo "three kernels:"; timeout 45 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full --adam-three-kernels 2>&1 | grep '^{'
  echo "in place:"; timeout 45 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,full 2>&1 | grep '^{'
done
