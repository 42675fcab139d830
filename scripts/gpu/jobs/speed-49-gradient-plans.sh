#!/bin/bash
# The LoRA factors' gradient kernel split other ways
# (bench/skinny-sweep.ts), then the best plan against the default in steps, alternately; every
# kernel and every dispatch outside kernels of a step timed exactly (profile-step.ts); the kernel
# cases on the H200; PyTorch's step kernel by kernel (torch_profile_step.py, first run on the GPU).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
timeout 90 node .gpu/app/skinny-sweep.mjs --dawn "$Q" --out $OUT/skinny-sweep.json 2>&1 | grep -v "^   "
BEST=$(python3 -c "
import json
rows=json.load(open('$OUT/skinny-sweep.json'))['rows']
# a LoRA q,v step runs the first two shapes 12 times each; q,v+mlp adds 6 of each of the last two
keys=rows[0]['us'].keys()
cost={k: 2*(rows[0]['us'][k]+rows[1]['us'][k]) + sum(r['us'][k] for r in rows[2:]) for k in keys}
print(min(cost, key=cost.get))")
echo "best plan: $BEST"
timeout 70 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --top 0 --dawn "$Q" --out $OUT/profile.json 2>&1 | grep "step"
run() { timeout 45 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8,lora-qv-mlp-r8 $2 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('$1', r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run new "--gradient-plan $BEST"; run old; else run old; run new "--gradient-plan $BEST"; fi
done 2>&1 | tee $OUT/ab.txt
timeout 120 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))['cases']
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
(cd bench && timeout 90 python3 torch_profile_step.py --modes lora-qv-r8,full --out $OUT/torch-profile.json 2>&1 | grep -v Warn | tail -4)
