#!/bin/bash
# With the quads in (d047a31, .gpu/app), three tile choices tried as
# bundles of their own: v1, the weights' gradients over a long K (dy^T @ x, full fine-tuning only)
# on 128 threads of 8 x 8 sums (tall8x8, and 64 x 128 on 8 x 16 threads) where 256 of 8 x 4 ran;
# v2, those on 128 x 128 (large); v3, large with padded K-contiguous staging (pad), as tall has.
# A step's kernels timed exactly, then steps in two alternate rounds. Everything in one archive.
source .gpu/setup.sh
for d in app v1 v2 v3; do for f in .gpu/$d/*.xz; do xz -dkf "$f"; done; done
mkdir -p /tmp/r
Q="disable-dawn-features=timestamp_quantization"
for code in app v1 v2 v3; do
  modes=full; [ $code = app ] || [ $code = v3 ] && modes=full,lora-qv-r8
  timeout 80 node .gpu/$code/profile-step.mjs --backend webgpu --modes $modes --top 0 --dawn "$Q" --out /tmp/r/profile-$code.json 2>&1 | grep "step" | sed "s/^/$code /"
done
for round in 1 2; do
  for code in app v1 v2 v3; do
    modes=full; [ $code = app ] || [ $code = v3 ] && modes=full,lora-qv-r8
    timeout 80 node .gpu/$code/train-step.mjs --backend webgpu --warmup 4 --steps 30 --modes $modes --out /tmp/r/ours-$code-$round.json 2>&1 | grep '^{' | python3 -c "
import json,sys
for line in sys.stdin:
    r=json.loads(line); print('$round', '$code', r['mode'].ljust(11), round(r['samples_per_second'],1), 'queue_ms', round(r['queue_ms'],1))"
  done
done
tar czf $OUT/results.tgz -C /tmp/r .
