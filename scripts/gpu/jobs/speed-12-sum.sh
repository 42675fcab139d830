#!/bin/bash
# The tiles back to single-buffered (speed-11-double.sh: double buffering lost at
# every shape), our Sum over all axes but the last kept. Kernel cases; PyTorch + PEFT beside ours;
# full mode with tfjs's Sum and ours alternately (speed-11-double.sh's full mode queued for 90 ms a step, 51-59
# before); a CPU profile of full-mode steps; the per-kernel profile; the Sum timings.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 100 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "kernel cases rc=$?"
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -8
for i in 1 2; do
  echo "full, tfjs's Sum:"; timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes full --tfjs-sum 2>&1 | grep '^{'
  echo "full, ours:"; timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --modes full 2>&1 | grep '^{'
done
timeout 60 node --cpu-prof --cpu-prof-dir=$OUT/prof-full .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 6 --modes full 2>&1 | grep '^{'
timeout 60 node --cpu-prof --cpu-prof-dir=$OUT/prof-full-tfjs-sum .gpu/app/train-step.mjs --backend webgpu --warmup 3 --steps 6 --modes full --tfjs-sum 2>&1 | grep '^{'
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --out $OUT/profile-step-gpu.json > $OUT/profile.log 2>&1; head -8 $OUT/profile.log
timeout 30 node .gpu/app/column-sum.mjs --out $OUT/column-sum.json 2>&1 | grep -v "^=\|Hi, looks"
