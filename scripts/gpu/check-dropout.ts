// On the GPU machine: does the WebGPU dropout kernel draw exactly the masks of the JavaScript
// reference, and what does it cost against tf.dropout? Prints one JSON line.
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend";
import { dropout, dropoutUniform } from "../../lib/nn/dropout";

export async function checkDropout(): Promise<void> {
  const backend = await initBackend("webgpu");
  const n = 100_003;
  const x = tf.range(1, n + 1).toFloat();
  const y = await dropout(x, 0.1, 4242).data();
  let mismatches = 0;
  for (let i = 0; i < n; i++) {
    const expected = dropoutUniform(4242, i) >= 0.1 ? (i + 1) / 0.9 : 0;
    if (Math.abs(y[i] - expected) > 1e-3 * Math.max(1, expected)) mismatches++;
  }
  const big = tf.randomNormal([12, 12, 512, 512]);
  const time = async (f: () => tf.Tensor) => {
    await f().data();
    const t = performance.now();
    for (let i = 0; i < 3; i++) { const r = f(); await r.data(); r.dispose(); }
    return (performance.now() - t) / 3;
  };
  const ours = await time(() => dropout(big, 0.1, 7));
  const tfjs = await time(() => tf.dropout(big, 0.1, undefined, 7));
  console.log(JSON.stringify({ backend: backend.device, elements: n, mismatches, ms_ours_12x12x512x512: ours, ms_tf_dropout: tfjs }));
}
