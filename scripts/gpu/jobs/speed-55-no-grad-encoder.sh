#!/bin/bash
# Last-layers with the frozen encoder off the gradient tape (commit
# 78820cd, new) against it on the tape (prev-*.mjs, 3f87db2), alternately; PyTorch's reference with
# each step's loss copied back right after its own step (--early-reads) beside its usual loop; then
# the benchmark twice (peak memory now the most bytes in GPU buffers in use at once).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
run() { timeout 40 node .gpu/app/$1train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes last-layers 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('${1:-new-}'[:-1], r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2), 'peak', r['peak_memory_bytes'])"; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run; run prev-; else run prev-; run; fi
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
python3 bench/torch_reference.py --early-reads --precisions fp32 --out $OUT/torch-early.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --out $OUT/ours-2.json 2>&1 | grep '^{' | cut -c1-150
