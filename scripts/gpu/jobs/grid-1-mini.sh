#!/bin/bash
# The tutorial's grid search on the GPU, from the book's backbone (models/distilbert-mini-imdb: 4 x 128,
# MLM-pretrained on the IMDb training reviews), with the tutorial's training (Adam at 5e-5, batch 12,
# 3 epochs) on all 35,000 / 5,000 / 10,000 reviews cut to 128 tokens, the
# length the backbone was pretrained on. Beside it: the last layers, full fine-tuning, and full
# fine-tuning of the same shape from random weights (the floor pretraining has to beat).
# Seven workers share the grid's folder, each claiming a point before it runs it (scripts/grid-search.ts);
# every run checkpoints at its epochs' ends. `grid-1-mini.sh SECONDS` stops every process after
# SECONDS (default 540); running the job again on the same machine continues where it stopped, and on
# a fresh machine it starts from the points and baselines already in results/grid/ (finished ones are
# skipped). WORKERS (default 7) sets how many grid-search processes share the GPU.
# Carries .gpu/ (scripts/gpu/pack-app.sh scripts/gpu/experiment.ts) and .gpu-data/imdb128/
# (scripts/gpu/pack-data.ts --max-length 128 --out .gpu-data/imdb128); the backbone is tracked.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
D=.gpu-data/imdb128; W=.gpu-runs/grid-mini; LIMIT=${1:-540}
mkdir -p $W/logs $W/grid $W/baselines
cp -n results/grid/points/*.json $W/grid/ 2>/dev/null; cp -n results/grid/baselines/*.json $W/baselines/ 2>/dev/null
COMMON=(--backend webgpu --profile full --model models/distilbert-mini-imdb --tokenizer $D/vocab --data $D/imdb --max-length 128 --no-train-eval)
GRID=(--ranks 1,2,4,8,16 --alphas 1,4,16,32 --flag-sets qv,qv-mlp --out-dir $W/grid)
baseline() {
  name=$1; shift
  [ -f $W/baselines/$name.json ] && return
  timeout $LIMIT node .gpu/app/experiment.mjs "${COMMON[@]}" --name $name --out $W/baselines/$name.json \
    --checkpoint-dir $W/checkpoints/$name --log $W/logs/$name.jsonl "$@" >> $W/logs/$name.log 2>&1 &
}
baseline mini-last-layers --mode last-layers
baseline mini-full --mode full
baseline floor-full-random-init --mode full --random-init
for w in $(seq 1 ${WORKERS:-7}); do
  timeout $LIMIT node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" "${GRID[@]}" --checkpoint-dir $W/checkpoints \
    >> $W/logs/worker-$w.log 2>&1 &
done
sleep 90; nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv > $W/logs/smi.txt 2>&1
wait
node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" "${GRID[@]}" --list | tee $W/logs/list.txt | awk '{print $3}' | sort | uniq -c
for f in $W/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^epoch [0-9]/" | tail -3; done
cat $W/logs/smi.txt
tar czf $OUT/grid-mini.tgz -C $W grid baselines logs && ls -la $OUT
