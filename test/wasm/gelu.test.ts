import * as tf from "@tensorflow/tfjs";
import * as path from "path";
import * as F from "../../lib/nn/functional";
import { geluGradientInto, geluInto } from "../../lib/wasm/gelu";
import { WASM_BASE64 } from "../../lib/wasm/gelu-binary";
import { assembleWat, WASM_DIR } from "../../scripts/build-wasm";
import { initBackend } from "../../lib/backend";
import { values } from "../helpers/values";

// GELU and its derivative in WebAssembly SIMD (lib/wasm/gelu.wat) against values from Python's
// math.erf, and inside tfjs's wasm backend against the cpu backend's ops.

// [x, gelu(x), gelu'(x)]: x/2 (1 + erf(x / sqrt 2)) and (1 + erf(x / sqrt 2))/2 + x exp(-x^2/2) / sqrt(2 pi), in float64.
const REFERENCE = [
  [-20, -0.0, -1.1041896724319527e-86],
  [-8, -4.884981308350689e-15, -3.9807546004751306e-14],
  [-5, -1.4332578593401202e-6, -7.146946001803465e-6],
  [-4, -0.00012668496733247991, -0.0005036496612264215],
  [-3, -0.00404969409489031, -0.011945647204183918],
  [-2, -0.04550026389635842, -0.08523180107819692],
  [-1, -0.15865525393145707, -0.08331547058768629],
  [-0.5, -0.15426876936299344, 0.13250487534383712],
  [-0.001, -0.000499601057786089, 0.4992021157051586],
  [0, 0.0, 0.5],
  [0.001, 0.000500398942213911, 0.5007978842948414],
  [0.5, 0.34573123063700656, 0.8674951246561629],
  [1, 0.8413447460685429, 1.0833154705876864],
  [2, 1.9544997361036416, 1.085231801078197],
  [3, 2.99595030590511, 1.011945647204184],
  [4, 3.9998733150326675, 1.0005036496612265],
  [5, 4.999998566742141, 1.000007146946002],
  [8, 7.999999999999995, 1.0000000000000397],
  [20, 20.0, 1.0],
];

test("gelu and dy * gelu' match float64 references from -20 to 20 (to float32's precision)", () => {
  const x = Float32Array.from(REFERENCE.map((r) => r[0]));
  const dy = Float32Array.from(REFERENCE.map((_, i) => 1 + i / 10));
  const y = new Float32Array(x.length);
  const dx = new Float32Array(x.length);
  geluInto(y, x);
  geluGradientInto(dx, x, dy);
  REFERENCE.forEach(([, gelu, derivative], i) => {
    expect(Math.abs(y[i] - gelu)).toBeLessThan(4e-7 * (1 + Math.abs(gelu)));
    expect(Math.abs(dx[i] - dy[i] * derivative)).toBeLessThan(4e-7 * (1 + Math.abs(dy[i] * derivative)));
  });
});

test("lengths off the 4-float vectors and past one chunk of the module's memory come out whole", () => {
  for (const n of [1, 3, 5, (1 << 20) + 3]) {
    const x = values(n, n, 3); // |x / sqrt 2| < 3, where the series below is exact
    const y = new Float32Array(n).fill(NaN);
    geluInto(y, x);
    const last = x[n - 1];
    const expected = 0.5 * last * (1 + erfBySeries(last / Math.SQRT2));
    expect(y.every((v) => Number.isFinite(v))).toBe(true);
    expect(Math.abs(y[n - 1] - expected)).toBeLessThan(1e-6);
  }
});

test("operands of different lengths are named in the error", () => {
  expect(() => geluGradientInto(new Float32Array(4), new Float32Array(4), new Float32Array(3))).toThrow("gelu: x holds 4 floats, dy 3");
});

describe("on tfjs's wasm backend", () => {
  const run = () => {
    const x = tf.tensor(values(3 * 5 * 12, 9, 4), [3, 5, 12]);
    const dy = tf.tensor(values(3 * 5 * 12, 10), [3, 5, 12]);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(F.gelu(t), dy)))(x);
    return { y: Array.from(F.gelu(x).dataSync()), dx: Array.from(dx.dataSync()) };
  };

  test("gelu() runs the kernels and matches the cpu backend's ops, value and gradient", async () => {
    await initBackend("wasm", { quiet: true });
    expect(tf.getKernel(F.GELU_KERNEL, "wasm")).toBeDefined();
    expect(tf.getKernel(F.GELU_GRAD_KERNEL, "wasm")).toBeDefined();
    const wasm = tf.tidy(run);
    await initBackend("cpu", { quiet: true });
    const cpu = tf.tidy(run);
    await initBackend("wasm", { quiet: true });
    expect(Math.max(...wasm.y.map((v, i) => Math.abs(v - cpu.y[i])))).toBeLessThan(2e-6);
    expect(Math.max(...wasm.dx.map((v, i) => Math.abs(v - cpu.dx[i])))).toBeLessThan(2e-6);
  });

  test("with wasmGelu: false the kernels are gone and gelu() runs tfjs's ops", async () => {
    await initBackend("wasm", { quiet: true, wasmGelu: false });
    expect(tf.getKernel(F.GELU_KERNEL, "wasm")).toBeUndefined();
    const ops = tf.tidy(run);
    await initBackend("wasm", { quiet: true });
    const fused = tf.tidy(run);
    expect(Math.max(...ops.dx.map((v, i) => Math.abs(v - fused.dx[i])))).toBeLessThan(2e-6);
  });
});

test("the committed binary is the assembled gelu.wat", async () => {
  const bytes = await assembleWat(path.join(WASM_DIR, "gelu.wat"));
  expect(Buffer.from(WASM_BASE64, "base64").equals(Buffer.from(bytes))).toBe(true);
});

/** erf by its Taylor series, in float64: exact to ~1e-12 for |x| <= 3. */
function erfBySeries(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
