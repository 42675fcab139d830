#!/bin/bash
# Gradients and saved tensors freed as the backward pass goes (lib/webgpu/release-in-backward.ts),
# against keeping them to the pass's end as tfjs does (--keep-backward), with the attention as one
# kernel and with its weights stored (--stored-attention), in one run:
# 1. timed, alone on the GPU: PyTorch + PEFT, then ours four ways, every mode (speed, CPU queue
#    time, peak memory);
# 2. then what is alive at the memory peak of every mode with the defaults, and of LoRA and full
#    with the attention's weights stored.
# Carries .gpu/ (scripts/gpu/pack-app.sh bench/train-step.ts bench/memory-breakdown.ts).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/release; mkdir -p $R
save() { tar czf $OUT/release.tgz -C $R .; }  # what is done so far comes back even if the run is cut
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
step() { local name=$1; shift; timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 "$@" --out $R/ours-$name.json 2>&1 | grep '^{' | cut -c1-120; }
step release
step keep --keep-backward
step stored-release --stored-attention
step stored-keep --stored-attention --keep-backward
echo "timed part done at ${SECONDS}s"; save
timeout 200 node .gpu/app/memory-breakdown.mjs --backend webgpu --out $R/memory-release.json > $R/memory-release.log 2>&1; echo "memory rc=$?"; save
timeout 120 node .gpu/app/memory-breakdown.mjs --backend webgpu --modes lora-qv-r8,full --stored-attention --out $R/memory-stored-release.json > $R/memory-stored-release.log 2>&1; echo "memory rc=$?"; save
grep -h "peak" $R/memory-*.log | cut -c1-160
echo "done at ${SECONDS}s"
