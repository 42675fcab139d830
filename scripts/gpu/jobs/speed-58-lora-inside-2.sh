#!/bin/bash
# LoRA inside the projections with the low-rank epilogue's reads
# coalesced (commit in the job's bundle) against --lora-apart: kernel cases; the LoRA step's
# profile both ways; steps alternately, two rounds; PyTorch fp32 and our benchmark.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
timeout 50 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8 --top 0 --dawn "$Q" --out $OUT/profile-inside.json 2>&1 | grep "step" | sed "s/^/inside /"
timeout 50 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8 --top 0 --dawn "$Q" --lora-apart --out $OUT/profile-apart.json 2>&1 | grep "step" | sed "s/^/apart /"
run() { timeout 45 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8 $2 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('$1', r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2), 'peak', r['peak_memory_bytes'])"; }
for round in 1 2; do
  if [ $((round % 2)) = 1 ]; then run inside; run apart --lora-apart; else run apart --lora-apart; run inside; fi
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --precisions fp32 --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 20 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
