#!/bin/bash
# 64 x 64 tiles of 64 threads (small8x8) for the 768 x 768
# projections, against tall8x8 (old-*.mjs, commit 4be6d2c): kernel cases; the other products of a
# step with small8x8 timed exactly beside the tiles they run on; every kernel of a step timed
# exactly; steps alternately; then the benchmark, PyTorch's and ours.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
timeout 120 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
timeout 100 node .gpu/app/matmul-tiles.mjs --kernel-time --dawn "$Q" --shapes 1,2,4,5,6,18,19 --tiles 64x64x16ut8x8,128x128x16u,128x64x16upt16x8 --out $OUT/matmul-tiles-small8x8.json 2>&1 | grep -v "^   "
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --out $OUT/profile-new.json 2>&1 | grep "step" | sed "s/^/new /"
timeout 60 node .gpu/app/old-profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --out $OUT/profile-old.json 2>&1 | grep "step" | sed "s/^/old /"
run() { timeout 45 node .gpu/app/$1train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8,full 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('${1:-new-}'[:-1], r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run; run old-; else run old-; run; fi
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-110
