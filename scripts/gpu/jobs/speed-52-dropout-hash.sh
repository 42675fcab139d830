#!/bin/bash
# A diagnostic: is the attention's fused softmax + dropout bound by
# its dropout hash (two integer multiplies and shifts per element)? Every kernel of a step timed
# exactly with the code as it is, with the hash replaced by a constant (nohash-*.mjs: no dropout,
# same memory traffic) and with one hash per two elements (halfhash-*.mjs: 16-bit uniforms), the
# last two bundled from patched copies of lib/webgpu/softmax.ts that were not committed. Three rounds.
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
for round in 1 2 3; do
  for v in "" nohash- halfhash-; do
    timeout 60 node .gpu/app/${v}profile-step.mjs --backend webgpu --modes lora-qv-r8 --top 0 --dawn "$Q" --out $OUT/profile-${v:-base-}$round.json 2>&1 | grep "step" | sed "s/^/${v:-base-} /"
  done
done
python3 -c "
import json,glob
for v in ['base-','nohash-','halfhash-']:
  for f in sorted(glob.glob('$OUT/profile-'+v+'*.json')):
    r=json.load(open(f))['results'][0]
    g={x['kernel']+' '+x['shapes']:x for x in r['groups']}
    fwd=[x for k,x in g.items() if 'forward [12,12,512,512]' in k][0]; bwd=[x for k,x in g.items() if 'softmax-dropout-bwd' in k][0]
    print(v, f[-6:], 'step GPU', round(r['kernel_ms'],2), 'softmax fwd us', round(1000*fwd['ms']/fwd['count'],1), 'bwd us', round(1000*bwd['ms']/bwd['count'],1))
"
