#!/bin/bash
# The review mend of the skinny kernels' generator:
# kernel cases, then LoRA q,v steps beside PyTorch fp32's.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 80 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8 2>&1 | grep '^{' | cut -c1-160
python3 bench/torch_reference.py --modes lora-qv-r8 --precisions fp32 --out $OUT/torch.json 2>&1 | grep '^{' | cut -c1-120
