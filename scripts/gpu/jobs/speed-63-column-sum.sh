#!/bin/bash
# Our Sum over all axes but the last split into more, narrower
# workgroups (16 vec4 columns x 16 lanes x 8 rows a lane, where 64 x 4 x 32 made a few warps per
# SM), and tf.gather's gradient without copying its identity transposes. Kernel cases; the
# column sum's plans timed exactly; steps with the old plan and the new in alternate rounds
# (full fine-tuning sums 51 gradients a step, LoRA the skinny gradients' partial products); a
# step's kernels timed exactly.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 80 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
Q="disable-dawn-features=timestamp_quantization"
timeout 60 node .gpu/app/column-sum.mjs --plans c64/l4/r32,c16/l16/r8,c16/l16/r4,c32/l8/r8,c16/l16/r16,c8/l32/r8 --dawn "$Q" --out $OUT/column-sum.json 2>&1 | grep -v "^backend"
for round in 1 2; do
  for plan in c64/l4/r32 c16/l16/r8; do
    timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8,full --column-sum-plan $plan 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin:
    r=json.loads(line); print('$round', '$plan', r['mode'].ljust(11), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],1))"
  done
done
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes full,lora-qv-r8 --top 0 --dawn "$Q" --out $OUT/profile.json 2>&1 | grep "step"
