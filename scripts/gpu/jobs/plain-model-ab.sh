#!/bin/bash
# The model written plainly, with the WebGPU fusions swapped in by lib/webgpu/inject.ts, against the
# model that called the fused kernels itself: bench/train-step.ts bundled from each source
# (.gpu-before/ holds the earlier bundle), the four modes at distilbert-base, batch 12 x 512, in
# alternating order over three rounds; then once with the fused modules off (--plain-modules).
# `plain-model-ab.sh last-layers [ROUNDS]`: last-layers alone, whose short steps vary most from run
# to run, in more alternating rounds of 30 steps (five by default), summed up in one file.
# `plain-model-ab.sh profile`: one last-layers step of each bundle, every kernel timed on its own
# (bench/profile-step.ts, exact timestamps), twice in alternating order.
source .gpu/setup.sh
for f in .gpu/app/*.xz .gpu-before/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
cp .gpu-before/*-before.mjs .gpu/app/  # beside the other bundles: the same node_modules
run() { timeout 150 node .gpu/app/$1.mjs --backend webgpu --warmup 4 "${@:3}" --out $OUT/$2.json 2>&1 | tail -2; }
profile() { timeout 200 node .gpu/app/$1.mjs --backend webgpu --modes last-layers --dawn "disable-dawn-features=timestamp_quantization" --top 40 --out $OUT/$2.json > $OUT/$2.txt 2>&1; tail -3 $OUT/$2.txt; }
if [ "$1" = profile ]; then
  profile profile-step-before profile-before-1; profile profile-step profile-after-1
  profile profile-step profile-after-2; profile profile-step-before profile-before-2
  python3 - <<'PY'
import json, os, collections
out = os.environ["OUT"]
for side in ("before", "after"):
    for i in (1, 2):
        r = json.load(open(f"{out}/profile-{side}-{i}.json"))["results"][0]
        print(side, i, f"wall {r['wall_ms']:.1f} ms, kernels {r['kernel_ms']:.2f} ms ({r['kernels']}), outside {r['outside_kernels_ms']:.2f} ms ({r['dispatches_outside_kernels']})")
by = {side: collections.Counter() for side in ("before", "after")}
for side in by:
    for i in (1, 2):
        for g in json.load(open(f"{out}/profile-{side}-{i}.json"))["results"][0]["groups"]: by[side][g["kernel"]] += g["ms"] / 2
for k in sorted(set(by["before"]) | set(by["after"]), key=lambda k: -max(by["before"][k], by["after"][k]))[:25]:
    print(f"{by['before'][k]:9.3f} {by['after'][k]:9.3f}  {k}")
PY
  exit 0
elif [ "$1" = last-layers ]; then
  mkdir -p /tmp/ll; OUT_ALL=$OUT; OUT=/tmp/ll
  for round in $(seq 1 ${2:-5}); do
    args=(--modes last-layers --steps 30)
    if [ $((round % 2)) = 1 ]; then run train-step-before ll-before-$round "${args[@]}"; run train-step ll-after-$round "${args[@]}"
    else run train-step ll-after-$round "${args[@]}"; run train-step-before ll-before-$round "${args[@]}"; fi
  done
  python3 - "$OUT_ALL/last-layers-rounds.json" <<'PY'
import json, glob, sys
runs = {side: [json.load(open(f))["rows"][0] for f in sorted(glob.glob(f"/tmp/ll/ll-{side}-*.json"), key=lambda f: int(f.split("-")[-1][:-5]))] for side in ("before", "after")}
keep = ("samples_per_second", "step_ms", "queue_ms", "bind_groups", "uniforms")
json.dump({side: [{k: r[k] for k in keep} for r in rows] for side, rows in runs.items()}, open(sys.argv[1], "w"), indent=1)
PY
  OUT=$OUT_ALL
else
  for round in 1 2 3; do
    if [ $((round % 2)) = 1 ]; then run train-step-before before-$round --steps 12; run train-step after-$round --steps 12
    else run train-step after-$round --steps 12; run train-step-before before-$round --steps 12; fi
  done
  run train-step plain-modules --steps 12 --plain-modules
fi
python3 - <<'PY'
import json, glob, os
out = os.environ["OUT"]
for name in sorted(glob.glob(f"{out}/*.json")):
    d = json.load(open(name))
    if "rows" in d: print(os.path.basename(name), " ".join(f"{r['mode']} {r['samples_per_second']:.1f}" for r in d["rows"]))
    else: print(os.path.basename(name), {side: [round(r["samples_per_second"], 1) for r in runs] for side, runs in d.items()})
PY
