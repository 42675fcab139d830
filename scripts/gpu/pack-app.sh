#!/usr/bin/env bash
# Bundle entry points for the GPU machine and shrink .gpu/ so a backbone and the data fit beside it
# (what travels there is limited to 64 MiB in all): ../shared/gpu/prepare, then Node.js stripped of
# its debug symbols (24.2 -> 21.9 MB compressed) and each bundle xz-compressed (5.6 -> 0.5 MB).
# On the GPU machine: source .gpu/setup.sh && for f in .gpu/app/*.xz; do xz -dkf "$f"; done
#
#   bash scripts/gpu/pack-app.sh scripts/gpu/experiment.ts [bench/train-step.ts bench/memory-breakdown.ts ...]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
rm -rf .gpu/app
../shared/gpu/prepare "$@"
stripped=$(mktemp)
cp "$(command -v node)" "$stripped"
strip "$stripped"
xz -T0 -9e -c "$stripped" > .gpu/node.xz
rm -f "$stripped"
for bundle in .gpu/app/*.mjs; do xz -T0 -9 -f "$bundle"; done
du -sb .gpu | awk '{printf "pack-app: .gpu is %.1f MB\n", $1 / 1e6}'
