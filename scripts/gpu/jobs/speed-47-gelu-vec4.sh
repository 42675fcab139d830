#!/bin/bash
# GELU four elements a thread as vec4s (lib/webgpu/elementwise.ts)
# against the code before (old-*.mjs, commit 45e0a24's lib): kernel cases, each kernel of a step
# timed exactly, the step alternately; then the benchmark (PyTorch and ours) for the history.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
Q="disable-dawn-features=timestamp_quantization"
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --out $OUT/profile-new.json 2>&1 | grep "step" | sed "s/^/new /"
timeout 60 node .gpu/app/old-profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --out $OUT/profile-old.json 2>&1 | grep "step" | sed "s/^/old /"
run() { timeout 70 node .gpu/app/$1train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8,full 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('${1:-new-}'[:-1], r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run; run old-; else run old-; run; fi
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-120
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-120
