#!/bin/bash
# The matmul's workgroup-tile indices masked to their arrays'
# power-of-two lengths (lib/webgpu/matmul.ts), so that the driver can see they are in range and
# drop Tint's clamps, against the same code unmasked (--unmasked-tiles) and against no robustness
# at all; each kernel of a step timed exactly, alternately, two rounds. Then the kernel cases.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
for round in 1 2; do
  timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --out $OUT/profile-masked-$round.json 2>&1 | grep "step" | sed "s/^/masked $round /"
  timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q" --unmasked-tiles --out $OUT/profile-unmasked-$round.json 2>&1 | grep "step" | sed "s/^/unmasked $round /"
  timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$Q enable-dawn-features=disable_robustness" --out $OUT/profile-unchecked-$round.json 2>&1 | grep "step" | sed "s/^/unchecked $round /"
done
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "cases rc=$?"; tail -c 300 $OUT/cases.err
