#!/bin/bash
# Dawn's robustness toggles that keep accesses safe, against the
# default and against no robustness at all, each kernel of a LoRA step timed exactly (timestamp
# quantization off), two rounds alternately:
#   vulkan_use_buffer_robust_access_2            the driver bounds buffer reads (VK_EXT_robustness2), Tint drops its clamps on them
#   enable_integer_range_analysis_in_robustness  Tint drops clamps it can prove needless
#   disable_robustness                            no clamps at all (unsafe: the bound on what clamps cost)
source .gpu/setup.sh
for f in .gpu/app/*.xz; do xz -dkf "$f"; done  # bundles travel xz-compressed (scripts/gpu/pack-app.sh)
Q="disable-dawn-features=timestamp_quantization"
for round in 1 2; do
  for t in none vulkan_use_buffer_robust_access_2 enable_integer_range_analysis_in_robustness vulkan_use_buffer_robust_access_2,enable_integer_range_analysis_in_robustness disable_robustness; do
    flags="$Q"; [ $t != none ] && flags="$Q enable-dawn-features=$t"
    timeout 60 node .gpu/app/profile-step.mjs --backend webgpu --modes lora-qv-r8,full --top 0 --dawn "$flags" --out $OUT/profile-$t-$round.json 2>&1 | grep "step" | sed "s/^/$t $round /"
  done
done
