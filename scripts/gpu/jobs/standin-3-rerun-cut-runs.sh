#!/bin/bash
# The three runs standin-2-finetune.sh cut short (1 epoch of 3 in 7.4 min, 5 runs sharing the GPU), again with 3 sharing it.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
D=.gpu-data/imdb512; M=.gpu-data/standin
mkdir -p $OUT/logs
BB="stand-in: DistilBERT 4 x 256 (11.2M parameters) MLM-pretrained for 1,188 steps (7.9 min on the H200 via WebGPU, batch 32 x 512 tokens, lr 3e-4) on the 35,000 IMDb training reviews only; last-100-step MLM loss 6.13"
COMMON="--backend webgpu --profile full --tokenizer $D/vocab --data $D/imdb --batch-size 32 --lr 1e-4 --epochs 3 --minutes 7.6 --no-train-eval"
run() { name=$1; shift; timeout 555 node .gpu/app/experiment.mjs $COMMON --name $name --out $OUT/$name.json --log $OUT/logs/$name.jsonl "$@" > $OUT/logs/$name.log 2>&1 & }
run standin-lora-qv-mlp-r8-a1 --model $M --mode lora --lora-r 8 --lora-alpha 1 --lora-query --lora-value --lora-mlp --backbone "$BB"
run standin-full --model $M --mode full --backbone "$BB"
run floor-full-random-init --model $M --random-init --mode full --backbone "floor: random initialisation (seed 123) of the stand-in's shape (4 x 256), no pretraining"

wait
for f in $OUT/logs/*.log; do echo "== $f"; tr '\r' '\n' < $f | grep -v "^\(epoch [0-9]/\|validation \|test accuracy \)" | tail -6; done
cat $OUT/logs/smi-2min.txt
cd $OUT && tar czf logs.tgz logs && rm -rf logs && ls -la
