#!/bin/bash
# Our matmul's K-contiguous tiles as [K / 4][4][...] (a staged vec4's
# four floats: one clamped row index and four constants, where Tint clamped four indices) and each
# thread's staging places and whole tiles' load indices worked out before the K loop. speed-67-checks-per-kernel.sh put
# all of the checks' cost in our matmul kernels. Kernel cases; a step's kernels timed exactly, the
# code before (.gpu/base) against this (.gpu/app), checks on; steps in alternate rounds
# beside PyTorch fp32.
source .gpu/setup.sh
for f in .gpu/app/*.xz .gpu/base/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 80 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
Q="disable-dawn-features=timestamp_quantization"
for round in 1 2; do
  for code in base app; do
    modes=lora-qv-r8; [ $round = 1 ] && modes=lora-qv-r8,full
    timeout 80 node .gpu/$code/profile-step.mjs --backend webgpu --modes $modes --top 0 --dawn "$Q" --out $OUT/profile-$code-$round.json 2>&1 | grep "step" | sed "s/^/$round $code /"
  done
done
python3 bench/torch_reference.py --modes lora-qv-r8,full --out $OUT/torch.json 2>&1 | grep '^{' | cut -c1-110
for round in 1 2 3; do
  for code in base app; do
    timeout 80 node .gpu/$code/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8,full --out $OUT/ours-$code-$round.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin:
    r=json.loads(line); print('$round', '$code', r['mode'].ljust(11), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],1))"
  done
done
