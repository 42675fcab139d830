#!/bin/bash
# Commit ab7830d, Dawn's checks on (the default), against
# PyTorch fp32 in three alternate rounds, LoRA q,v and full, so the ratio rests on more than one
# reading of each side (the host's pace moves between runs).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
mkdir -p /tmp/p
for round in 1 2 3; do
  python3 bench/torch_reference.py --modes lora-qv-r8,full --precisions fp32 --out /tmp/p/torch-$round.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin:
    r=json.loads(line); print('$round', 'torch', r['mode'].ljust(11), round(r['samples_per_second'],1))"
  timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8,full --out /tmp/p/ours-$round.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin:
    r=json.loads(line); print('$round', 'ours ', r['mode'].ljust(11), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],1))"
done
tar czf $OUT/rounds.tgz -C /tmp/p .
