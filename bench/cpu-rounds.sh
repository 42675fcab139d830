#!/usr/bin/env bash
# The CPU benchmark's runs (bench/combine-cpu.ts), in rounds: every side once a round, each run
# started once both cores have been idle for 3 s, then bench-cpu.json from all of them.
#
#   bash bench/cpu-rounds.sh ROUNDS OUT_DIR [OPENBLAS_DIR]
#
# OPENBLAS_DIR: a folder holding Debian's libopenblas0-openmp libraries (apt-get download
# libopenblas0-openmp && dpkg -x *.deb root: root/usr/lib/x86_64-linux-gnu/openblas-openmp); without
# it the PyTorch sides run on whatever BLAS python3-torch finds.
set -euo pipefail
rounds=${1:?rounds}
out=${2:?output folder}
openblas=${3:-}
mkdir -p "$out"
small=(--small --seq 128 --steps 10 --modes lora-qv-r8,full)

# Wait until the last 3 s of /proc/stat show both cores at most 10% busy.
idle() {
  for _ in $(seq 60); do
    read -r _ u1 n1 s1 i1 w1 _ < /proc/stat; sleep 3; read -r _ u2 n2 s2 i2 w2 _ < /proc/stat
    busy=$(( (u2 + n2 + s2) - (u1 + n1 + s1) )); all=$(( busy + (i2 + w2) - (i1 + w1) ))
    (( all > 0 && busy * 10 <= all )) && return 0
  done
}
torch() {
  local threads=$1 file=$2
  idle
  if [[ -n "$openblas" ]]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH="$openblas" /usr/bin/python3 bench/torch_cpu_reference.py --threads "$threads" --ours "$out/wasm-1.json" --out "$file"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_cpu_reference.py --threads "$threads" --ours "$out/wasm-1.json" --out "$file"
  fi
}

for r in $(seq "$rounds"); do
  idle; npx tsx bench/train-step.ts --backend wasm "${small[@]}" --out "$out/wasm-1.json"; cp "$out/wasm-1.json" "$out/round-$r-wasm-1.json"
  idle; npx tsx bench/train-step.ts --backend wasm "${small[@]}" --tfjs-batch-matmul --out "$out/round-$r-wasm-1-tfjs-batch-matmul.json"
  idle; npx tsx bench/train-step.ts --backend wasm "${small[@]}" --tfjs-gelu --out "$out/round-$r-wasm-1-tfjs-gelu.json"
  idle; npx tsx bench/train-step.ts --backend wasm "${small[@]}" --js-dropout --out "$out/round-$r-wasm-1-js-dropout.json"
  idle; npx tsx bench/train-step.ts --backend wasm "${small[@]}" --replicas 2 --out "$out/round-$r-wasm-replicas-2.json"
  idle; LORA_WASM_THREADS=2 npx tsx bench/train-step.ts --backend wasm "${small[@]}" --out "$out/round-$r-wasm-threads-2.json"
  torch 1 "$out/round-$r-torch-1.json"
  torch 2 "$out/round-$r-torch-2.json"
done
idle; npx tsx bench/train-step.ts --backend cpu "${small[@]}" --out "$out/cpu.json"
idle; env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_cpu_reference.py --threads 2 --ours "$out/wasm-1.json" --out "$out/torch-reference-blas-2.json"
idle; npx tsx bench/cpu-ceilings.ts --out "$out/ceilings-1.json"
idle; LORA_WASM_THREADS=2 npx tsx bench/cpu-ceilings.ts --out "$out/ceilings-2.json"
rm "$out/wasm-1.json"
npx tsx bench/combine-cpu.ts "$out"/*.json
