// Why WebGPU keeps Dawn's checks for untrusted shaders by default (lib/backend.ts, webgpuChecks):
// tfjs's own BatchMatMul, which takes transposed products over a short K (a weight's gradient over
// a batch of few tokens), gives non-finite values without Tint's bounds clamps. Prints, per product,
// the largest difference from the cpu backend (null when NaN) and the count of non-finite outputs.
//
//   LORA_WEBGPU_CHECKS=off VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/unchecked-nan.ts
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import { runCheck, onBackend, maxAbsDiff } from "../test/webgpu/backend";
import { values } from "../test/helpers/values";

// dy^T @ x for a fused q, k, v weight (384 outputs) and for one 128-wide weight, over 16 tokens.
const PRODUCTS: [number[], number[]][] = [
  [[16, 384], [16, 128]],
  [[16, 128], [16, 128]],
];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

runCheck(async () => {
  const report: Record<string, { diff: number; nonFinite: number }> = {};
  for (const [aShape, bShape] of PRODUCTS) {
    const product = () => tf.matMul(tf.tensor(values(size(aShape), 1), aShape), tf.tensor(values(size(bShape), 2), bShape), true, false);
    const [cpu] = await onBackend("cpu", product);
    const [gpu] = await onBackend("webgpu", product);
    report[`${aShape} x ${bShape} true false`] = { diff: maxAbsDiff(cpu, gpu), nonFinite: gpu.filter((v) => !Number.isFinite(v)).length };
  }
  return report;
});
