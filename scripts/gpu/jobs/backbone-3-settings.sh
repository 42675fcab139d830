#!/bin/bash
# The quick profile's settings, chosen on validation accuracy: the 4 x 128 backbone (backbone-2's
# mini4) fine-tuned with LoRA at several learning rates, training-set sizes and epochs, and the
# grid's rank x alpha x layers points at two learning rates, on 500 training reviews.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done
D=.gpu-data/imdb128
mkdir -p $OUT/logs
Q="--backend webgpu --profile quick --model models/mini4 --tokenizer $D/vocab --data $D/imdb --val-limit 500 --test-limit 1000 --max-length 128 --batch-size 16 --no-train-eval"
probe() { local name=$1; shift; node .gpu/app/experiment.mjs $Q "$@" --out $OUT/logs/$name.json > $OUT/logs/$name.log 2>&1; }
probe lora-1e-4-n1000-e2 --mode lora --lr 1e-4 --train-limit 1000 --epochs 2 &
probe lora-2e-4-n1000-e2 --mode lora --lr 2e-4 --train-limit 1000 --epochs 2 &
probe lora-3e-4-n1000-e2 --mode lora --lr 3e-4 --train-limit 1000 --epochs 2 &
probe lora-1e-4-n2000-e2 --mode lora --lr 1e-4 --train-limit 2000 --epochs 2 &
probe lora-2e-4-n2000-e2 --mode lora --lr 2e-4 --train-limit 2000 --epochs 2 &
probe lora-2e-4-n1000-e3 --mode lora --lr 2e-4 --train-limit 1000 --epochs 3 &
probe lora-1e-4-n1000-e3 --mode lora --lr 1e-4 --train-limit 1000 --epochs 3 &
probe last-3e-3-n500-e2 --mode last-layers --lr 3e-3 --train-limit 500 --epochs 2 &
probe last-1e-3-n1000-e3 --mode last-layers --lr 1e-3 --train-limit 1000 --epochs 3 &
probe full-1e-4-n1000-e3 --mode full --lr 1e-4 --train-limit 1000 --epochs 3 &
probe full-5e-5-n1000-e2 --mode full --lr 5e-5 --train-limit 1000 --epochs 2 &
probe lora-5e-5-n1000-e3 --mode lora --lr 5e-5 --train-limit 1000 --epochs 3 &
wait
for lr in 2e-4 5e-4; do
  for r in 2 8; do for a in 1 16; do
    probe grid-$lr-r$r-a$a-qv --mode lora --lr $lr --train-limit 500 --epochs 2 --lora-r $r --lora-alpha $a --lora-query --lora-value &
    probe grid-$lr-r$r-a$a-qvmlp --mode lora --lr $lr --train-limit 500 --epochs 2 --lora-r $r --lora-alpha $a --lora-query --lora-value --lora-mlp &
  done; done
  wait
done
for f in $OUT/logs/*.json; do python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sys.argv[1].split('/')[-1][:-5], d['trainable_params'], [round(e['valAccuracy'],3) for e in d['epochs']], round(d['test_accuracy'],4))" $f; done | tee $OUT/summary.txt
tar czf $OUT/settings.tgz -C $OUT logs && rm -rf $OUT/logs
