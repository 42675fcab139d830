#!/bin/bash
# The weights' gradients over a long K on the tiles speed-69-tile-choices.sh timed
# fastest per shape (outputs four times as long as wide on 128 threads of 8 x 8 sums, the others on
# 128 x 128) against d047a31 (.gpu/base); then the benchmark, every mode, beside PyTorch fp32 and
# bf16, and LoRA q,v with the checks off once more, for the record.
source .gpu/setup.sh
for d in app base; do for f in .gpu/$d/*.xz; do xz -dkf "$f"; done; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 100 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
mkdir -p /tmp/r
Q="disable-dawn-features=timestamp_quantization"
for code in base app; do
  timeout 80 node .gpu/$code/profile-step.mjs --backend webgpu --modes full --top 0 --dawn "$Q" --out /tmp/r/profile-$code.json 2>&1 | grep "step" | sed "s/^/$code /"
done
for round in 1 2; do
  for code in base app; do
    timeout 80 node .gpu/$code/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes full --out /tmp/r/ours-$code-$round.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin:
    r=json.loads(line); print('$round', '$code', r['mode'].ljust(11), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],1))"
  done
done
tar czf $OUT/ab.tgz -C /tmp/r .
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep '^{' | cut -c1-110
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8 --webgpu-checks off --out $OUT/ours-lora-unchecked.json 2>&1 | grep '^{' | cut -c1-150
