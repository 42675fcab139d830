import * as tf from "@tensorflow/tfjs";
import * as path from "path";
import { DROPOUT_KERNEL, dropout, dropoutUniform } from "../../lib/nn/dropout";
import { dropoutInto } from "../../lib/wasm/dropout";
import { WASM_BASE64 } from "../../lib/wasm/dropout-binary";
import { assembleWat, WASM_DIR } from "../../scripts/build-wasm";
import { initBackend } from "../../lib/backend";
import { values } from "../helpers/values";

// Dropout in WebAssembly SIMD (lib/wasm/dropout.wat) against its definition in lib/nn/dropout.ts:
// the same mask and the same products, bit for bit.

/** x * (u >= rate) / (1 - rate) element by element, u = dropoutUniform(seed, i), the scale a float32. */
function definition(x: Float32Array, rate: number, seed: number): Float32Array {
  const scale = Math.fround(1 / (1 - rate));
  return x.map((v, i) => (dropoutUniform(seed, i) >= rate ? v * scale : 0));
}

test.each([
  [1, 0.1, 7],
  [5, 0.3, 12345],
  [1003, 0.5, 0xffffffff], // the seed's hash plus the index wraps past 2^32
  [(1 << 20) + 6, 0.1, 99], // past one chunk of the module's memory
])("%i floats at rate %f, seed %i: the definition's mask and products, bit for bit", (n, rate, seed) => {
  const x = values(n, n, 2);
  const out = new Float32Array(n).fill(NaN);
  dropoutInto(out, x, rate, seed);
  const expected = definition(x, rate, seed);
  let differing = 0;
  for (let i = 0; i < n; i++) if (!Object.is(out[i], expected[i])) differing++;
  expect(differing).toBe(0);
  const kept = out.filter((v) => v !== 0).length / n;
  if (n > 1000) expect(Math.abs(kept - (1 - rate))).toBeLessThan(0.05);
});

test("rate 0 keeps every element as it is; a rate outside [0, 1) is named in the error", () => {
  const x = values(9, 3);
  const out = new Float32Array(9);
  dropoutInto(out, x, 0, 5);
  expect(Array.from(out)).toEqual(Array.from(x));
  expect(() => dropoutInto(out, x, 1, 5)).toThrow("dropout: rate 1 is not in [0, 1)");
});

test("on tfjs's wasm backend dropout() runs this kernel and matches the cpu backend bit for bit, forward and backward", async () => {
  const run = () =>
    tf.tidy(() => {
      const x = tf.tensor(values(2 * 3 * 17, 4), [2, 3, 17]);
      const dy = tf.tensor(values(2 * 3 * 17, 5), [2, 3, 17]);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.2, 31), dy)))(x);
      return [Array.from(dropout(x, 0.2, 31).dataSync()), Array.from(dx.dataSync())];
    });
  await initBackend("wasm", { quiet: true });
  const registered = tf.getKernel(DROPOUT_KERNEL, "wasm")!.kernelFunc;
  const wasm = run();
  await initBackend("wasm", { quiet: true, wasmDropout: false });
  const javascript = run();
  expect(tf.getKernel(DROPOUT_KERNEL, "wasm")!.kernelFunc).not.toBe(registered);
  await initBackend("cpu", { quiet: true });
  const cpu = run();
  await initBackend("wasm", { quiet: true });
  expect(tf.getKernel(DROPOUT_KERNEL, "wasm")!.kernelFunc).toBe(registered);
  expect(wasm).toEqual(cpu);
  expect(javascript).toEqual(cpu);
});

test("the committed binary is the assembled dropout.wat", async () => {
  const bytes = await assembleWat(path.join(WASM_DIR, "dropout.wat"));
  expect(Buffer.from(WASM_BASE64, "base64").equals(Buffer.from(bytes))).toBe(true);
});
