#!/bin/bash
# The attention as one kernel that never stores its T x T weights (lib/webgpu/flash-attention.ts)
# against the products and fused softmax + dropout it replaced (--stored-attention), in one run:
# 1. timed, alone on the GPU: PyTorch + PEFT, then ours both ways, every mode (speed, CPU queue
#    time, peak memory);
# 2. then, untimed and side by side: what is alive at a LoRA and a full step's memory peak both ways;
#    the attention's kernel cases on this GPU; and training with the attention as one kernel, to set
#    beside the grid's runs made with the weights stored (results/grid/): the tutorial's LoRA point
#    (q, v, r=8, alpha=16) and full fine-tuning, from the book's backbone with the grid's training
#    (Adam at 5e-5, batch 12, 3 epochs, 35,000 / 5,000 / 10,000 reviews cut to 128 tokens). They
#    stop at END seconds from the start (`speed-72-flash-attention.sh END`, default 570), and a
#    second run on the same machine continues them from their epoch checkpoints (the timed part
#    runs again). What is done so far is packed into $OUT/flash.tgz at each stage.
# Carries .gpu/ (scripts/gpu/pack-app.sh scripts/gpu/experiment.ts bench/train-step.ts
# bench/memory-breakdown.ts test/webgpu/run-cases.ts) and .gpu-data/imdb128/ (scripts/gpu/pack-data.ts
# --max-length 128 --out .gpu-data/imdb128); the backbone is tracked.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/flash; W=.gpu-runs/flash-training; D=.gpu-data/imdb128
mkdir -p $R $W/logs $W/grid $W/baselines
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --out $R/ours-flash.json 2>&1 | grep '^{' | cut -c1-150
timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 --stored-attention --out $R/ours-stored.json 2>&1 | grep '^{' | cut -c1-150
grep -h '"samples_per_second"' $R/torch.json | cut -c1-150 | head -8
echo "timed part done at ${SECONDS}s"
save() { cp -r $W/grid $W/baselines $W/logs $R/ 2>/dev/null; tar czf $OUT/flash.tgz -C $R .; }  # what is done so far comes back even if the run is cut
save
LIMIT=$((${1:-570} - SECONDS))
COMMON=(--backend webgpu --profile full --model models/distilbert-mini-imdb --tokenizer $D/vocab --data $D/imdb --max-length 128 --no-train-eval)
timeout $LIMIT node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" --ranks 8 --alphas 16 --flag-sets qv --out-dir $W/grid \
  --checkpoint-dir $W/checkpoints >> $W/logs/lora-qv-r8-a16.log 2>&1 &
[ -f $W/baselines/mini-full.json ] || timeout $LIMIT node .gpu/app/experiment.mjs "${COMMON[@]}" --name mini-full --mode full \
  --out $W/baselines/mini-full.json --checkpoint-dir $W/checkpoints/mini-full --log $W/logs/mini-full.jsonl >> $W/logs/mini-full.log 2>&1 &
timeout 120 node .gpu/app/memory-breakdown.mjs --backend webgpu --modes lora-qv-r8,full --stored-attention --out $R/memory-stored.json > $R/memory-stored.log 2>&1; echo "memory rc=$?"
timeout 120 node .gpu/app/memory-breakdown.mjs --backend webgpu --modes lora-qv-r8,full --out $R/memory-flash.json > $R/memory-flash.log 2>&1; echo "memory rc=$?"
save
timeout 150 node .gpu/app/run-cases.mjs attention > $R/cases.json 2> $R/cases.log; echo "cases rc=$?"
wait
for f in $W/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^epoch [0-9]/" | tail -3; done
save
echo "done at ${SECONDS}s"
