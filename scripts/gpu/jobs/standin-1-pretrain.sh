#!/bin/bash
# MLM pretraining of the 4x256 stand-in (8 min) beside a fine-tuning speed probe at its shape.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
D=.gpu-data/imdb512
mkdir -p $OUT/logs
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv > $OUT/logs/smi-start.txt 2>&1
node .gpu/app/experiment.mjs pretrain --backend webgpu --size small --tokenizer $D/vocab --data $D/imdb --max-length 512 \
  --batch-size 32 --lr 3e-4 --warmup 200 --minutes 7.9 --checkpoint-every 0 --checkpoint-dir /tmp/mlm-ck \
  --out $OUT/mlm-small --save-dtype bf16 --shard-mb 15 > $OUT/logs/pretrain.log 2>&1 &
P=$!
sleep 20
for m in last-layers lora-qv-r8 lora-qv-mlp-r8 full; do
  node .gpu/app/train-step.mjs --backend webgpu --shape 4x256 --batch 12 --seq 512 --warmup 5 --steps 30 --modes $m --out $OUT/logs/probe-$m.json > $OUT/logs/probe-$m.log 2>&1 &
done
sleep 100; nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv > $OUT/logs/smi-mid.txt 2>&1
wait $P; echo "pretrain rc=$?"
wait
python3 - > $OUT/logs/hf-load.txt 2>&1 <<'PY'
import torch, json, os
from transformers import DistilBertForMaskedLM, DistilBertForSequenceClassification
d = os.environ["OUT"] + "/mlm-small"
m, info = DistilBertForMaskedLM.from_pretrained(d, output_loading_info=True)
print("MLM load info", {k: list(v) for k, v in info.items()})
c, info2 = DistilBertForSequenceClassification.from_pretrained(d, output_loading_info=True)
print("SeqCls load info", {k: list(v)[:6] for k, v in info2.items()})
print("dtype", next(m.parameters()).dtype, "params", sum(p.numel() for p in m.parameters()))
PY
tail -3 $OUT/logs/pretrain.log
cat $OUT/logs/probe-*.json | grep samples_per_second
cat $OUT/logs/hf-load.txt | tail -4
cd $OUT && tar czf logs.tgz logs && rm -rf logs && cd mlm-small && tar czf ../mlm-meta.tgz *.json && rm -f config.json pretraining.json mlm-loss.json && ls -la $OUT $OUT/mlm-small
