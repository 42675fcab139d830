#!/bin/bash
# The benchmark after the fused attention's outputs are copied out of its buffers by a vec4 copy
# (copyRange, lib/webgpu/elementwise.ts) instead of tfjs's Slice: timed alone on the GPU, PyTorch +
# PEFT, then ours with the defaults, every mode; then a LoRA q, v step's kernels, each timed alone.
# What is done is packed into $OUT/copies.tgz.
# Carries .gpu/ (scripts/gpu/pack-app.sh bench/train-step.ts bench/profile-step.ts).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/copies; mkdir -p $R
save() { tar czf $OUT/copies.tgz -C $R .; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $R/ours.json 2>&1 | grep '^{' | cut -c1-150
grep -h '"samples_per_second"' $R/torch.json | cut -c1-150 | head -4
echo "timed part done at ${SECONDS}s"; save
timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8 --top 0 --dawn "disable-dawn-features=timestamp_quantization" --out $R/profile.json > $R/profile.log 2>&1; echo "profile rc=$?"
save
echo "done at ${SECONDS}s"
