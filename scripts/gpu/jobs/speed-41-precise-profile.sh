#!/bin/bash
# One step's kernels timed exactly. Dawn rounds timestamps down to
# 65.5 us unless its timestamp_quantization toggle is off, so the profiles before knew short
# kernels only as averages of ticks. Beside it, PyTorch's step kernel by kernel (torch.profiler).
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
timeout 150 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,lora-qv-mlp-r8,full --top 40 --dawn "disable-dawn-features=timestamp_quantization" --out $OUT/profile-exact.json 2>&1 | tail -130
(cd bench && timeout 200 python3 torch_profile_step.py --modes lora-qv-r8,lora-qv-mlp-r8,full --out $OUT/torch-profile.json 2>&1 | grep -v Warning | tail -90)
