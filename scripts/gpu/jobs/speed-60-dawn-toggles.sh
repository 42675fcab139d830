#!/bin/bash
# Dawn's device toggles that a native (non-browser) host may choose,
# each alone and all together, against the default, in alternate rounds beside PyTorch fp32:
#   disable_robustness      no bounds clamps from Tint (our kernels bound their own reads and writes)
#   disable_workgroup_init  no zeroing of workgroup memory at each workgroup's start
#   skip_validation         Dawn skips validating each call (CPU time to queue a step)
# First the kernel cases with all three on: correctness without the clamps.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
ALL=disable_robustness,disable_workgroup_init,skip_validation
CASES_DAWN_FLAGS="enable-dawn-features=$ALL" timeout 90 node .gpu/app/run-cases.mjs > $OUT/cases-all-toggles.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases-all-toggles.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
for round in 1 2; do
  for t in none disable_robustness disable_workgroup_init skip_validation $ALL; do
    flags=(); [ $t != none ] && flags=(--dawn "enable-dawn-features=$t")
    timeout 50 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8 "${flags[@]}" --out /tmp/o.json > /dev/null 2>&1
    python3 -c "
import json; d=json.load(open('/tmp/o.json')); r=d['rows'][0]; d['round']=$round; d['toggles']='$t'
print(json.dumps(d), file=open('$OUT/ours.jsonl','a'))
print('$round', '$t'.ljust(58), r['mode'], r['samples_per_second'], 'queue_ms', r.get('queue_ms'))" 2>&1 | tail -1
  done
  python3 bench/torch_reference.py --modes lora-qv-r8 --precisions fp32 --out $OUT/torch-$round.json 2>&1 | grep '^{' | cut -c1-120
done
Q="disable-dawn-features=timestamp_quantization"
for t in none $ALL; do
  flags="$Q"; [ $t != none ] && flags="$Q enable-dawn-features=$t"
  timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$flags" --out $OUT/profile-${t:0:4}.json 2>&1 | grep "step" | sed "s/^/$t /"
done
