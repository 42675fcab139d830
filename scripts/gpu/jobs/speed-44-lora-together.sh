#!/bin/bash
# The adapted q, v projections' LoRA updates computed together
# (lib/models/attention-projections.ts: one x @ [A_q | A_v], h @ B added inside the head split, two
# skinny products for every B's and h's gradient) against the code before (old-*.mjs, commit
# 32b5d00's lib): kernel cases, then each kernel of a step timed exactly, then the step, alternately.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/run-cases.mjs > $OUT/cases.json 2> $OUT/cases.err; echo "cases rc=$?"
Q="disable-dawn-features=timestamp_quantization"
for round in 1 2; do
  for side in new old; do
    app=.gpu/app/profile-step.mjs; [ $side = old ] && app=.gpu/app/old-profile-step.mjs
    timeout 60 node $app --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8 --top 0 --dawn "$Q" --out $OUT/profile-$side-$round.json 2>&1 | grep "step" | sed "s/^/$side $round /"
  done
done
for round in 1 2 3; do
  for side in new old; do
    app=.gpu/app/train-step.mjs; [ $side = old ] && app=.gpu/app/old-train-step.mjs
    timeout 60 node $app --backend webgpu --warmup 4 --steps 10 --modes lora-qv-r8,lora-qv-mlp-r8 --out $OUT/step-$side-$round.json 2>&1 | grep '^{' | cut -c1-110 | sed "s/^/$side $round /"
  done
done
