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
runCheck(async () => {
  const report: Record<string, unknown> = {};
  for (const [as, bs, ta, tb] of [[[16, 384], [16, 128], true, false], [[16, 128], [16, 128], true, false], [[2, 8, 384], [2, 8, 128], true, false]] as [number[], number[], boolean, boolean][]) {
    const f = () => { const a = tf.tensor(values(as.reduce((x, y) => x * y), 1), as); const b = tf.tensor(values(bs.reduce((x, y) => x * y), 2), bs); return as.length === 3 ? tf.matMul(a.reshape([16, 384]), b.reshape([16, 128]), ta, tb) : tf.matMul(a, b, ta, tb); };
    const cpu = await onBackend("cpu", f);
    const gpu = await onBackend("webgpu", f);
    let bad = 0; for (const v of gpu[0]) if (!Number.isFinite(v)) bad++;
    report[`${as} x ${bs} ${ta} ${tb}`] = { diff: maxAbsDiff(cpu[0], gpu[0]), nonFinite: bad };
  }
  return report;
});
