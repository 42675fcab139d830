#!/bin/bash
# LayerNorm over rows of vec4s and the short-K kernel for LoRA's
# h @ B and dh @ A^T (commit 02e8dd0) against the code before them (old-*.mjs, commit 1f6baec):
# kernel cases, each kernel of a step timed exactly, steps alternately; then the benchmark.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
Q="disable-dawn-features=timestamp_quantization"
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --top 0 --dawn "$Q" --out $OUT/profile-new.json 2>&1 | grep "step" | sed "s/^/new /"
timeout 60 node .gpu/app/old-profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --top 0 --dawn "$Q" --out $OUT/profile-old.json 2>&1 | grep "step" | sed "s/^/old /"
run() { timeout 80 node .gpu/app/$1train-step.mjs --backend webgpu --warmup 4 --steps 20 --modes lora-qv-r8,lora-qv-mlp-r8,full 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin: r=json.loads(line); print('${1:-new-}'[:-1], r['mode'], round(r['samples_per_second'],1), 'step', round(r['step_ms'],2), 'queue', round(r['queue_ms'],2))"; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run; run old-; else run old-; run; fi
done 2>&1 | tee $OUT/ab.txt
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep -v Warn | cut -c1-100
timeout 100 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-110
