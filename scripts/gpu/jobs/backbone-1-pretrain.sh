#!/bin/bash
# The quick profile's backbone: a 4 x 128 DistilBERT pretrained with the masked-language-model
# objective by `npm run pretrain` (tfjs on WebGPU), beside PyTorch + transformers running the same
# objective on the same token cache for the same minutes (bench/torch_mlm_reference.py); then each
# backbone fine-tuned in the tutorial's three modes on 2,000 / 500 / 1,000 reviews of 128 tokens.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done
D=.gpu-data/imdb128
MIN=${MIN:-5.5}  # a run continues from checkpoints/ when the machine still holds them
mkdir -p $OUT/logs checkpoints models
node -e 'const z=require("zlib"),fs=require("fs");for(const f of fs.readdirSync(process.argv[1]))if(f.startsWith("train")&&f.endsWith(".br"))fs.writeFileSync("/tmp/train128.bin",z.brotliDecompressSync(fs.readFileSync(process.argv[1]+"/"+f)))' $D/imdb/tokens
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv > $OUT/logs/smi-start.txt 2>&1
node .gpu/app/experiment.mjs pretrain --backend webgpu --size mini --tokenizer $D/vocab --data $D/imdb --max-length 128 \
  --batch-size 128 --lr 1e-3 --warmup 500 --minutes $MIN --checkpoint-every 0 --checkpoint-dir checkpoints/mlm-mini \
  --out models/mlm-mini --save-dtype bf16 > $OUT/logs/pretrain-tfjs.log 2>&1 &
P=$!
python3 bench/torch_mlm_reference.py --cache /tmp/train128.bin --dim 128 --layers 4 --heads 2 --hidden 512 \
  --batch-size 128 --lr 1e-3 --warmup 500 --minutes $MIN --checkpoint checkpoints/mlm-mini-torch.pt --out models/mlm-mini-torch > $OUT/logs/pretrain-torch.log 2>&1 &
T=$!
sleep 90; nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv > $OUT/logs/smi-mid.txt 2>&1
wait $P; echo "tfjs pretrain rc=$?"; wait $T; echo "torch pretrain rc=$?"
tail -2 $OUT/logs/pretrain-tfjs.log; tail -2 $OUT/logs/pretrain-torch.log
Q="--backend webgpu --profile quick --tokenizer $D/vocab --data $D/imdb --train-limit 2000 --val-limit 500 --test-limit 1000 --max-length 128 --epochs 3 --batch-size 16"
probe() { node .gpu/app/experiment.mjs $Q --model models/$1 --mode $2 --lr $3 --out $OUT/logs/probe-$1-$2-$3.json > $OUT/logs/probe-$1-$2-$3.log 2>&1; }
for B in mlm-mini mlm-mini-torch; do
  probe $B last-layers 5e-4 & probe $B lora 5e-4 & probe $B full 5e-4 & probe $B last-layers 2e-3 & probe $B lora 2e-3 & probe $B full 1e-4 &
done
wait
for f in $OUT/logs/probe-*.json; do python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sys.argv[1].split('/')[-1], d['trainable_params'], round(d['val_accuracy'],4), round(d['test_accuracy'],4), round(d['train_seconds'],1))" $f; done
cp models/mlm-mini/model.safetensors $OUT/mlm-mini.safetensors
python3 -c "
from transformers import DistilBertForMaskedLM; import torch
m = DistilBertForMaskedLM.from_pretrained('models/mlm-mini-torch'); m.to(torch.bfloat16).save_pretrained('/tmp/torch-bf16')"
cp /tmp/torch-bf16/model.safetensors $OUT/mlm-mini-torch.safetensors
tar czf $OUT/meta.tgz models/mlm-mini/*.json models/mlm-mini-torch/*.json -C $OUT logs && rm -rf $OUT/logs
ls -la $OUT
