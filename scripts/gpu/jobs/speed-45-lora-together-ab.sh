#!/bin/bash
# The run of speed-44-lora-together.sh read the LoRA updates computed together as 0.5 ms less GPU
# time in the profile but 1-2 ms slower a step. Here both from one bundle (--lora-updates-apart
# runs the old path), alternately with the order swapped each round, 20 steps a run.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
run() { timeout 70 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8 "$@" 2>&1 | grep '^{' | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print('$1' or 'together', round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3 4; do
  if [ $((round % 2)) = 1 ]; then run; run --lora-updates-apart; else run --lora-updates-apart; run; fi
done
Q="disable-dawn-features=timestamp_quantization"
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8 --top 0 --dawn "$Q" 2>&1 | grep "step"
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8 --top 0 --dawn "$Q" --lora-updates-apart 2>&1 | grep "step"
