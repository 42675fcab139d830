#!/bin/bash
# Last-layers measured slower in speed-6-bench.sh (335 samples/s, 425 in
# speed-3-bench.sh): the previous commit's bundle (.gpu/app-old) and this one alternated in one run.
source .gpu/setup.sh
for f in .gpu/app/*.xz .gpu/app-old/*.xz; do xz -dkf "$f"; done
for round in 1 2; do
  for side in app-old app; do
    echo "round $round $side"
    node .gpu/$side/train-step.mjs --backend webgpu --modes last-layers,lora-qv-r8 --warmup 4 --steps 10 2>&1 | grep '^{'
  done
done
