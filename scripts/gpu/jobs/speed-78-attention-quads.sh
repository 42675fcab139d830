#!/bin/bash
# The fused attention's kernels with four threads sharing rows through subgroup shuffles
# (lib/webgpu/flash-attention-quads.ts) against one row a thread (--attention-rows), in one run:
# 1. timed, alone on the GPU: PyTorch + PEFT, then ours both ways in two alternate rounds, every
#    mode (speed, CPU queue time, peak memory);
# 2. then a LoRA q, v step's and a full step's kernels, each timed alone, both ways; the attention's
#    and the transformer block's kernel cases on this GPU; and LoRA on q, v (r=8, alpha=16) trained
#    from the book's backbone with the grid's training (Adam at 5e-5, batch 12, 3 epochs, 35,000 /
#    5,000 / 10,000 reviews cut to 128 tokens), to set beside the same run with one row a thread
#    (results/benchmark/flash-attention-ab-gpu.json). It stops at END seconds from the start
#    (`speed-78-attention-quads.sh END`, default 560) and a second run on the same machine continues
#    the training from its epoch checkpoint. What is done is packed into $OUT/quads.tgz at each stage.
# Carries .gpu/ (scripts/gpu/pack-app.sh scripts/gpu/experiment.ts bench/train-step.ts
# bench/profile-step.ts test/webgpu/run-cases.ts) and .gpu-data/imdb128/ (scripts/gpu/pack-data.ts
# --max-length 128 --out .gpu-data/imdb128); the backbone is tracked.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/quads; W=.gpu-runs/attention-quads; D=.gpu-data/imdb128
mkdir -p $R $W/logs $W/grid
save() { cp -r $W/grid $W/logs $R/ 2>/dev/null; tar czf $OUT/quads.tgz -C $R .; }  # what is done so far comes back even if the run is cut
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
if [ ! -f $W/timed-done ]; then
  timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
  step() { local name=$1; shift; timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 "$@" --out $R/ours-$name.json 2>&1 | grep '^{' | cut -c1-150; }
  step quads-1; step rows-1 --attention-rows; step quads-2; step rows-2 --attention-rows
  grep -h '"samples_per_second"' $R/torch.json | cut -c1-150 | head -4
  echo "timed part done at ${SECONDS}s"; touch $W/timed-done; save
fi
LIMIT=$((${1:-560} - SECONDS))
COMMON=(--backend webgpu --profile full --model models/distilbert-mini-imdb --tokenizer $D/vocab --data $D/imdb --max-length 128 --no-train-eval)
timeout $LIMIT node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" --ranks 8 --alphas 16 --flag-sets qv --out-dir $W/grid \
  --checkpoint-dir $W/checkpoints >> $W/logs/lora-qv-r8-a16.log 2>&1 &
for way in quads rows; do
  [ $way = rows ] && SWITCH=--attention-rows || SWITCH=
  timeout 100 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "disable-dawn-features=timestamp_quantization" $SWITCH --out $R/profile-$way.json > $R/profile-$way.log 2>&1; echo "profile $way rc=$?"
done
save
timeout 150 node .gpu/app/run-cases.mjs "attention" > $R/cases-attention.json 2> $R/cases-attention.log; echo "cases rc=$?"
timeout 100 node .gpu/app/run-cases.mjs "transformer block" > $R/cases-block.json 2> $R/cases-block.log; echo "cases rc=$?"
save
wait
for f in $W/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^epoch [0-9]/" | tail -3; done
save
echo "done at ${SECONDS}s"
