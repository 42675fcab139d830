#!/bin/bash
# A step's values asked for as it is queued (commit 3f87db2, new),
# against the fused GELU backward and residual LayerNorm alone (mid-*.mjs, 55a8ce6) and the code
# before both (old-*.mjs, fdb2edb): steps of three modes, the three bundles in turn, three rounds in
# rotated order; then the benchmark, PyTorch's and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
run() { timeout 60 node .gpu/app/$1train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes last-layers,lora-qv-r8,full 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('${1:-new-}'[:-1], r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3; do
  case $round in 1) run; run mid-; run old-;; 2) run mid-; run old-; run;; 3) run old-; run; run mid-;; esac
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-110
