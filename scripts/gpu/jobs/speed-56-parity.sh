#!/bin/bash
# Peak GPU memory with each block's intermediates freed as it ends
# (commit be02b34) against before (prev-*.mjs, 78820cd); LoRA q,v against PyTorch three times in
# turn, PyTorch's loop reading each step's loss early (now its default) and late; the benchmark twice
# around them.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for b in "" prev-; do
  timeout 60 node .gpu/app/${b}train-step.mjs --backend webgpu --warmup 2 --steps 4 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('${b:-new-}'[:-1], r['mode'], 'peak', r['peak_memory_bytes'])"
done 2>&1 | tee $OUT/memory.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
for round in 1 2 3; do
  python3 bench/torch_reference.py --modes lora-qv-r8 --precisions fp32 --out /tmp/t.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('torch-early', r['mode'], round(r['samples_per_second'],1))"
  python3 bench/torch_reference.py --late-reads --modes lora-qv-r8 --precisions fp32 --out /tmp/t.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('torch-late', r['mode'], round(r['samples_per_second'],1))"
  timeout 60 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('ours', r['mode'], round(r['samples_per_second'],1), 'queue', round(r['queue_ms'],2))"
done 2>&1 | tee $OUT/rounds.txt
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --out $OUT/ours-2.json 2>&1 | grep '^{' | cut -c1-150
