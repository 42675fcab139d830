#!/bin/bash
# Bind groups cached, with tfjs's pool handing out its oldest free
# buffer so a step's buffers settle (lib/webgpu/bind-groups.ts). Kernel cases; PyTorch + PEFT and
# ours in every mode; then the cache off and on, alternating, in LoRA and full mode.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.log; echo "cases rc=$?"
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
for round in 1 2; do
  timeout 50 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8,full --warmup 4 --steps 10 --bind-groups-uncached --out $OUT/ab-uncached-$round.json 2>&1 | grep '^{'
  timeout 50 node .gpu/app/train-step.mjs --backend webgpu --modes lora-qv-r8,full --warmup 4 --steps 10 --out $OUT/ab-cached-$round.json 2>&1 | grep '^{'
done
grep -h '"samples_per_second"' $OUT/torch.json | head -4
