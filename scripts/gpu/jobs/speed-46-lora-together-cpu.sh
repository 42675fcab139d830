#!/bin/bash
# Where the LoRA updates computed together cost CPU time (speed-45-lora-together-ab.sh: a
# step queued in 24-34 ms against 23-29 apart): CPU profiles of 8 LoRA steps each way, twice.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
for round in 1 2; do
  for side in together apart; do
    flag=""; [ $side = apart ] && flag="--lora-updates-apart"
    rm -rf /tmp/prof; timeout 70 node --cpu-prof --cpu-prof-dir=/tmp/prof .gpu/app/train-step.mjs --backend webgpu --warmup 4 --steps 8 --modes lora-qv-r8 $flag 2>&1 | grep '^{' | cut -c1-100
    python3 bench/cpu-profile.py /tmp/prof/*.cpuprofile 8 > $OUT/cpu-$side-$round.txt; head -30 $OUT/cpu-$side-$round.txt | sed "s/^/$side $round: /"
  done
done
