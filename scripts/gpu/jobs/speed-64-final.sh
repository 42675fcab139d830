#!/bin/bash
# Commit 1209549. Kernel cases; the benchmark, every mode, beside
# PyTorch fp32 and bf16; then LoRA q,v twice more, and PyTorch's once more, for the spread.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 80 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep '^{' | cut -c1-110
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
for round in 2 3; do
  timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8 --out $OUT/ours-lora-$round.json 2>&1 | grep '^{' | cut -c1-150
done
python3 bench/torch_reference.py --modes lora-qv-r8 --precisions fp32 --out $OUT/torch-lora-2.json 2>&1 | grep '^{' | cut -c1-110
