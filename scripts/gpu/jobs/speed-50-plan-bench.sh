#!/bin/bash
# The LoRA factors' gradient kernel's new default plan (c16/w512/q4,
# from speed-49-gradient-plans.sh's sweep) on the kernel cases and in steps against the old plan (c64/w256),
# alternately; the attention's batched products and the 768 x 768 projections timed exactly with
# other tiles and K splits (matmul-tiles.ts --kernel-time); then the benchmark, PyTorch's and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
timeout 120 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
timeout 150 node .gpu/app/matmul-tiles.mjs --kernel-time --dawn "$Q" --shapes 0,3,8,9,10 --tiles 128x64x16upt16x8,128x64x16up,128x128x16u,64x128x16u,64x64x16u,64x64x16ut8x8 --out $OUT/matmul-tiles-attention.json 2>&1 | grep -v "^   "
run() { timeout 45 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8,lora-qv-mlp-r8 $2 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('$1', r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run new; run old "--gradient-plan c64/w256"; else run old "--gradient-plan c64/w256"; run new; fi
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-110
