#!/bin/bash
# The model written plainly, with the WebGPU fusions swapped in by lib/webgpu/inject.ts, against the
# model that called the fused kernels itself: bench/train-step.ts bundled from each source
# (.gpu-before/ holds the earlier bundle), the four modes at distilbert-base, batch 12 x 512, in
# alternating order over three rounds; then once with the fused modules off (--plain-modules).
source .gpu/setup.sh
for f in .gpu/app/*.xz .gpu-before/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
cp .gpu-before/train-step-before.mjs .gpu/app/  # beside the other bundle: the same node_modules
run() { timeout 150 node .gpu/app/$1.mjs --backend webgpu --warmup 4 --steps 12 --out $OUT/$2.json "${@:3}" 2>&1 | tail -2; }
for round in 1 2 3; do
  if [ $((round % 2)) = 1 ]; then run train-step-before before-$round; run train-step after-$round; else run train-step after-$round; run train-step-before before-$round; fi
done
run train-step plain-modules --plain-modules
python3 - <<'PY'
import json, glob, os
out = os.environ["OUT"]
for name in sorted(glob.glob(f"{out}/*.json")):
    rows = json.load(open(name))["rows"]
    print(os.path.basename(name), " ".join(f"{r['mode']} {r['samples_per_second']:.1f}" for r in rows))
PY
