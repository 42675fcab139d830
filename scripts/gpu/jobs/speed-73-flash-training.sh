#!/bin/bash
# Training with the attention as one kernel (lib/webgpu/flash-attention.ts), against the runs of the
# grid made with the attention's weights stored (results/grid/): the tutorial's LoRA point (q, v,
# r=8, alpha=16) and full fine-tuning, from the book's backbone with the grid's training (Adam at
# 5e-5, batch 12, 3 epochs, 35,000 / 5,000 / 10,000 reviews cut to 128 tokens), side by side on the
# GPU. `speed-73-flash-training.sh SECONDS` stops both after SECONDS (default 540); run again on the
# same machine, they continue from their epoch checkpoints.
# Carries .gpu/ (scripts/gpu/pack-app.sh scripts/gpu/experiment.ts) and .gpu-data/imdb128/
# (scripts/gpu/pack-data.ts --max-length 128 --out .gpu-data/imdb128); the backbone is tracked.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
D=.gpu-data/imdb128; W=.gpu-runs/flash-training; LIMIT=${1:-540}
mkdir -p $W/logs $W/grid $W/baselines
COMMON=(--backend webgpu --profile full --model models/distilbert-mini-imdb --tokenizer $D/vocab --data $D/imdb --max-length 128 --no-train-eval)
timeout $LIMIT node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" --ranks 8 --alphas 16 --flag-sets qv --out-dir $W/grid \
  --checkpoint-dir $W/checkpoints >> $W/logs/lora-qv-r8-a16.log 2>&1 &
[ -f $W/baselines/mini-full.json ] || timeout $LIMIT node .gpu/app/experiment.mjs "${COMMON[@]}" --name mini-full --mode full \
  --out $W/baselines/mini-full.json --checkpoint-dir $W/checkpoints/mini-full --log $W/logs/mini-full.jsonl >> $W/logs/mini-full.log 2>&1 &
wait
for f in $W/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^epoch [0-9]/" | tail -4; done
tar czf $OUT/flash-training.tgz -C $W grid baselines logs
