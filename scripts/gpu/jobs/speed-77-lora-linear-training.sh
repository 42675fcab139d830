#!/bin/bash
# LoRA on q, v and the FFN (r=8, alpha=16) trained from the book's backbone twice at once, with the
# Linear with LoRA as one op (lib/webgpu/lora-linear.ts) and with the code of the commit before it
# (its update as ops of their own), with the grid's training (Adam at 5e-5, batch 12, 3 epochs,
# 35,000 / 5,000 / 10,000 reviews cut to 128 tokens); before that, a second timed round of
# speed-76-lora-linear.sh's comparison, alone on the GPU. What is done is packed into $OUT/lora2.tgz at each stage.
# Carries .gpu/ (scripts/gpu/pack-app.sh scripts/gpu/experiment.ts bench/train-step.ts, and
# .gpu/app/experiment-before.mjs.xz: scripts/gpu/experiment.ts of the commit before, bundled as
# ../shared/gpu/prepare bundles it) and .gpu-data/imdb128/ (scripts/gpu/pack-data.ts --max-length
# 128 --out .gpu-data/imdb128); the backbone is tracked.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/lora2; W=.gpu-runs/lora-linear-2; D=.gpu-data/imdb128
mkdir -p $R $W/logs $W/inside $W/before
save() { cp -r $W/inside $W/before $W/logs $R/ 2>/dev/null; tar czf $OUT/lora2.tgz -C $R .; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
step() { local name=$1; shift; timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 "$@" --out $R/ours-$name.json 2>&1 | grep '^{' | cut -c1-150; }
step apart --lora-apart
step inside
grep -h '"samples_per_second"' $R/torch.json | cut -c1-150 | head -4
echo "timed part done at ${SECONDS}s"; save
LIMIT=$((${1:-570} - SECONDS))
COMMON=(--backend webgpu --profile full --model models/distilbert-mini-imdb --tokenizer $D/vocab --data $D/imdb --max-length 128 --no-train-eval --ranks 8 --alphas 16 --flag-sets qv-mlp)
timeout $LIMIT node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" --out-dir $W/inside --checkpoint-dir $W/checkpoints-inside >> $W/logs/inside.log 2>&1 &
timeout $LIMIT node .gpu/app/experiment-before.mjs grid-search "${COMMON[@]}" --out-dir $W/before --checkpoint-dir $W/checkpoints-before >> $W/logs/before.log 2>&1 &
wait
for f in $W/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^epoch [0-9]/" | tail -3; done
save
echo "done at ${SECONDS}s"
