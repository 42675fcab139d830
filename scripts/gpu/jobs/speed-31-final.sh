#!/bin/bash
# The code of speed-30-final.sh once more, with a disposed model's kept q, k, v
# weights freed, so each mode's peak memory is its own: kernel cases, PyTorch + PEFT and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.log; echo "cases rc=$?"; grep -i error /tmp/cases.log | head -3
timeout 100 python3 bench/torch_reference.py --out $OUT/torch.json > /dev/null 2>&1
grep -h '"samples_per_second"' $OUT/torch.json | head -4
timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-200
