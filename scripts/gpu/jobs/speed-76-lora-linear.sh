#!/bin/bash
# A Linear with LoRA as one op (lib/webgpu/lora-linear.ts) against its update run as ops of their
# own (--lora-apart), and the encoder freeing each block's output once the next has read it, in one run:
# 1. timed, alone on the GPU: PyTorch + PEFT, then ours both ways, every mode (speed, CPU queue
#    time, peak memory);
# 2. then what is alive at every mode's memory peak with the defaults; the kernel cases of the
#    LoRA Linear and the transformer block on this GPU; and LoRA on q, v and the FFN (r=8, alpha=16)
#    trained from the book's backbone with the grid's training (Adam at 5e-5, batch 12, 3 epochs,
#    35,000 / 5,000 / 10,000 reviews cut to 128 tokens), to set beside the grid's run of that point
#    (results/grid/points/lora-qv-mlp-r8-a16.json), made with the update apart. It stops at END
#    seconds from the start (`speed-76-lora-linear.sh END`, default 570) and a second run on the
#    same machine continues it from its epoch checkpoint. What is done is packed into $OUT/lora.tgz at each stage.
# Carries .gpu/ (scripts/gpu/pack-app.sh scripts/gpu/experiment.ts bench/train-step.ts
# bench/memory-breakdown.ts test/webgpu/run-cases.ts) and .gpu-data/imdb128/ (scripts/gpu/pack-data.ts
# --max-length 128 --out .gpu-data/imdb128); the backbone is tracked.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
R=/tmp/lora; W=.gpu-runs/lora-linear; D=.gpu-data/imdb128
mkdir -p $R $W/logs $W/grid
save() { cp -r $W/grid $W/logs $R/ 2>/dev/null; tar czf $OUT/lora.tgz -C $R .; }  # what is done so far comes back even if the run is cut
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $R/gpu.txt
timeout 120 python3 bench/torch_reference.py --out $R/torch.json > $R/torch.log 2>&1; echo "torch rc=$? at ${SECONDS}s"
step() { local name=$1; shift; timeout 90 node .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 10 "$@" --out $R/ours-$name.json 2>&1 | grep '^{' | cut -c1-150; }
step inside
step apart --lora-apart
grep -h '"samples_per_second"' $R/torch.json | cut -c1-150 | head -4
echo "timed part done at ${SECONDS}s"; save
LIMIT=$((${1:-570} - SECONDS))
COMMON=(--backend webgpu --profile full --model models/distilbert-mini-imdb --tokenizer $D/vocab --data $D/imdb --max-length 128 --no-train-eval)
timeout $LIMIT node .gpu/app/experiment.mjs grid-search "${COMMON[@]}" --ranks 8 --alphas 16 --flag-sets qv-mlp --out-dir $W/grid \
  --checkpoint-dir $W/checkpoints >> $W/logs/lora-qv-mlp-r8-a16.log 2>&1 &
timeout 200 node .gpu/app/memory-breakdown.mjs --backend webgpu --out $R/memory.json > $R/memory.log 2>&1; echo "memory rc=$?"; save
timeout 150 node .gpu/app/run-cases.mjs "LinearWithLoRA" > $R/cases-lora-linear.json 2> $R/cases-lora-linear.log; echo "cases rc=$?"
timeout 150 node .gpu/app/run-cases.mjs "transformer block" > $R/cases-block.json 2> $R/cases-block.log; echo "cases rc=$?"
save
wait
for f in $W/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^epoch [0-9]/" | tail -3; done
grep -h "peak" $R/memory.log | cut -c1-160
save
echo "done at ${SECONDS}s"
