#!/bin/bash
# The quick profile's backbone, continued: the 4 x 128 DistilBERT of backbone-1 (PyTorch's run, 5.5
# minutes) pretrained 6 minutes more with the learning rate decaying linearly to 0, beside a 2 x 128
# pretrained from scratch for the same time; then both fine-tuned in the three modes at a few
# learning rates and training-set sizes (validation accuracy chooses the quick profile's settings).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done
D=.gpu-data/imdb128
MIN=${MIN:-6}
mkdir -p $OUT/logs models
node -e 'const z=require("zlib"),fs=require("fs");for(const f of fs.readdirSync(process.argv[1]))if(f.startsWith("train")&&f.endsWith(".br"))fs.writeFileSync("/tmp/train128.bin",z.brotliDecompressSync(fs.readFileSync(process.argv[1]+"/"+f)))' $D/imdb/tokens
python3 bench/torch_mlm_reference.py --cache /tmp/train128.bin --init models/mlm-mini-torch --dim 128 --layers 4 --heads 2 --hidden 512 \
  --batch-size 128 --lr 1e-3 --warmup 200 --decay --minutes $MIN --out models/mini4 > $OUT/logs/pretrain-mini4.log 2>&1 &
python3 bench/torch_mlm_reference.py --cache /tmp/train128.bin --dim 128 --layers 2 --heads 2 --hidden 512 \
  --batch-size 128 --lr 1e-3 --warmup 500 --decay --minutes $MIN --out models/mini2 > $OUT/logs/pretrain-mini2.log 2>&1 &
wait
tail -1 $OUT/logs/pretrain-mini4.log; tail -1 $OUT/logs/pretrain-mini2.log
Q="--backend webgpu --profile quick --tokenizer $D/vocab --data $D/imdb --val-limit 500 --test-limit 1000 --max-length 128 --epochs 2 --batch-size 16 --no-train-eval"
probe() { node .gpu/app/experiment.mjs $Q --model models/$1 --mode $2 --lr $3 --train-limit $4 --out $OUT/logs/probe-$1-$2-$3-$4.json > $OUT/logs/probe-$1-$2-$3-$4.log 2>&1; }
for B in mini4 mini2; do
  for N in 1000 2000; do
    probe $B last-layers 1e-3 $N & probe $B last-layers 3e-3 $N & probe $B lora 5e-4 $N & probe $B lora 1e-3 $N & probe $B full 1e-4 $N & probe $B full 3e-4 $N &
  done
  wait
done
for f in $OUT/logs/probe-*.json; do python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sys.argv[1].split('/')[-1], d['trainable_params'], [round(e['valAccuracy'],3) for e in d['epochs']], round(d['test_accuracy'],4))" $f; done
for B in mini4 mini2; do python3 -c "
from transformers import DistilBertForMaskedLM; import torch
m = DistilBertForMaskedLM.from_pretrained('models/$B'); m.to(torch.bfloat16).save_pretrained('/tmp/$B-bf16')"
  cp /tmp/$B-bf16/model.safetensors $OUT/$B.safetensors; done
tar czf $OUT/meta.tgz models/mini4/*.json models/mini2/*.json -C $OUT logs && rm -rf $OUT/logs
ls -la $OUT
