#!/bin/bash
# Where Dawn's checks cost their 4% — a step's kernels timed exactly
# (timestamp_quantization off) with webgpuChecks on and off, LoRA q,v in two alternate rounds and
# full once each, every kernel group kept (--top 0) so the two can be compared group by group.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
for round in 1 2; do
  for c in on off; do
    modes=lora-qv-r8; [ $round = 1 ] && modes=lora-qv-r8,full
    timeout 80 node .gpu/app/profile-step.mjs --backend webgpu --modes $modes --top 0 --dawn "$Q" --webgpu-checks $c --out $OUT/profile-$c-$round.json 2>&1 | grep "step" | sed "s/^/$round $c /"
  done
done
