#!/bin/bash
# One more sample of commit f8d85e2's code beside PyTorch + PEFT (steps'
# CPU time differs by up to a third from host to host, so one run alone says little).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > $OUT/torch.log 2>&1
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{'
grep -h '"samples_per_second"' $OUT/torch.json | head -4
