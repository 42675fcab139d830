#!/bin/bash
# The CPU's side of a LoRA step with tfjs submitting the queue every
# 15 dispatches (its default), 30 and 60, three alternate rounds: queue_ms (the CPU time to queue a
# step) and samples/s. results/submit-batch-gpu.json found no throughput difference up to 60,
# where the GPU set the pace; the question here is the CPU time, which sets the pace on slow hosts.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for round in 1 2 3; do
  for n in 15 30 60; do
    timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8,last-layers --submit-batch $n --out /tmp/o.json > /dev/null 2>&1
    python3 -c "
import json; d=json.load(open('/tmp/o.json')); d['round']=$round; d['submit_batch']=$n
print(json.dumps(d), file=open('$OUT/ours.jsonl','a'))
for r in d['rows']: print('$round', 'submit every $n'.ljust(16), r['mode'].ljust(12), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],2), 'peak GB', round(r['peak_memory_bytes']/1e9,2))"
  done
done
