#!/bin/bash
# Dawn's checks for untrusted shaders back on by default, after
# tfjs's own BatchMatMul gave NaN without them on SwiftShader (bench/unchecked-nan.ts). On the
# H200: that product with the checks off and on; the kernel cases (default: on); the benchmark,
# every mode, beside PyTorch fp32 and bf16; LoRA q,v with the checks off once more, for the record.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for c in off on; do echo "unchecked-nan, checks $c:"; LORA_WEBGPU_CHECKS=$c timeout 30 node .gpu/app/unchecked-nan.mjs 2>/dev/null | tail -1; done
timeout 80 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> /tmp/cases.err; echo "cases rc=$?"
python3 -c "
import json; c=json.load(open('$OUT/cases.json'))
print('cases', len(c), 'largest difference', max(v for o in c.values() for v in o.values()))" 2>&1 | tail -2
python3 bench/torch_reference.py --out $OUT/torch.json 2>&1 | grep '^{' | cut -c1-110
timeout 120 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --out $OUT/ours.json 2>&1 | grep '^{' | cut -c1-150
timeout 40 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes lora-qv-r8 --webgpu-checks off --out $OUT/ours-lora-unchecked.json 2>&1 | grep '^{' | cut -c1-150
