#!/bin/bash
# With webgpuChecks "off" as the default (lib/backend.ts: Dawn's
# disable_robustness and disable_workgroup_init). Same losses with the checks on and off (a small
# encoder trained 8 steps, test/webgpu/bind-group-cache.ts); then steps in alternate rounds:
# checks on (as before), off (the new default), off + skip_validation; LoRA q,v and full, beside
# PyTorch fp32.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for c in on off; do
  LORA_WEBGPU_CHECKS=$c timeout 60 node .gpu/app/bind-group-cache.mjs 2>/dev/null | tail -1 > $OUT/losses-checks-$c.json
done
python3 -c "
import json; on=json.load(open('$OUT/losses-checks-on.json')); off=json.load(open('$OUT/losses-checks-off.json'))
for m in on: print(m, 'losses identical' if on[m]['losses']==off[m]['losses'] else 'LOSSES DIFFER', on[m]['losses'][:3], off[m]['losses'][:3])"
row() { python3 -c "
import json; d=json.load(open('/tmp/o.json')); d['round']=$1; d['variant']='$2'
print(json.dumps(d), file=open('$OUT/ours.jsonl','a'))
for r in d['rows']: print('$1', '$2'.ljust(22), r['mode'].ljust(11), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],1), d['dawn_flags'])" 2>&1 | tail -2; }
for round in 1 2 3; do
  for v in on off off+skip; do
    args=(--webgpu-checks ${v%%+*}); [ $v = off+skip ] && args+=(--dawn "enable-dawn-features=skip_validation")
    modes=lora-qv-r8; [ $round != 3 ] && [ $v != off+skip ] && modes=lora-qv-r8,full
    timeout 80 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes $modes "${args[@]}" --out /tmp/o.json > /dev/null 2>&1
    row $round $v
  done
  [ $round != 2 ] && python3 bench/torch_reference.py --modes lora-qv-r8,full --precisions fp32 --out $OUT/torch-$round.json 2>&1 | grep '^{' | cut -c1-110
done
