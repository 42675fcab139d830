import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import * as batchMatMulModule from "../../lib/wasm/batch-matmul";
import { batchMatMulInto } from "../../lib/wasm/batch-matmul";
import { WASM_BASE64 } from "../../lib/wasm/batch-matmul-binary";
import { assembleWat, binaryModuleSource, WASM_DIR } from "../../scripts/build-wasm";
import { initBackend } from "../../lib/backend";
import { values } from "../helpers/values";

// The batched matrix product in WebAssembly SIMD (lib/wasm/batch-matmul.wat) against the
// definition in float64, and inside tfjs's wasm backend against the cpu backend.

/** op(a[i]) @ op(b[i]) in float64, by the definition. */
function definition(a: Float32Array, b: Float32Array, batch: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): Float64Array {
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          const x = transposeA ? a[t * m * k + p * m + i] : a[t * m * k + i * k + p];
          const y = transposeB ? b[t * k * n + j * k + p] : b[t * k * n + p * n + j];
          sum += x * y;
        }
        out[t * m * n + i * n + j] = sum;
      }
    }
  }
  return out;
}

describe("batchMatMulInto", () => {
  // Shapes on and off the kernel's 4 x 8 blocks, a single element, an attention head's products.
  const shapes = [[2, 5, 3, 7], [3, 4, 8, 8], [1, 1, 1, 1], [4, 9, 17, 13], [6, 12, 64, 12], [2, 64, 12, 64]];
  const cases = shapes.flatMap(([batch, m, k, n]) => [[false, false], [true, false], [false, true], [true, true]].map(([ta, tb]): [number, number, number, number, boolean, boolean] => [batch, m, k, n, ta, tb]));
  test.each(cases)(
    "batch %i of [%i x %i] @ [. x %i], transposeA %s, transposeB %s, equals the definition",
    (batch, m, k, n, ta, tb) => {
      const a = Float32Array.from(values(batch * m * k, m + k));
      const b = Float32Array.from(values(batch * k * n, k + n + 1));
      const out = new Float32Array(batch * m * n).fill(NaN); // every element written
      batchMatMulInto(out, a, b, batch, m, k, n, ta, tb);
      const expected = definition(a, b, batch, m, k, n, ta, tb);
      let worst = 0;
      for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - expected[i]) / (1 + Math.abs(expected[i])));
      expect(worst).toBeLessThan(1e-6);
    },
  );

  test("a second call with smaller operands leaves no trace of the first (padding is zeroed)", () => {
    const big = [3, 7, 9, 11] as const;
    const size = (x: readonly number[]) => x.reduce((p, q) => p * q, 1);
    batchMatMulInto(new Float32Array(3 * 7 * 11), Float32Array.from(values(size([3, 7, 9]), 1)), Float32Array.from(values(size([3, 9, 11]), 2)), ...big);
    const a = Float32Array.from(values(2 * 5 * 9, 3));
    const b = Float32Array.from(values(2 * 9 * 6, 4));
    const out = new Float32Array(2 * 5 * 6);
    batchMatMulInto(out, a, b, 2, 5, 9, 6);
    const expected = definition(a, b, 2, 5, 9, 6, false, false);
    expect(Math.max(...out.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-5);
  });
});

test("batchMatMulInto names the operand whose size is wrong", () => {
  expect(() => batchMatMulInto(new Float32Array(8), new Float32Array(12), new Float32Array(10), 2, 2, 3, 2)).toThrow("batchMatMulInto: b holds 10 floats, not 12 (batch 2, m 2, k 3, n 2)");
});

describe("on tfjs's wasm backend", () => {
  beforeAll(async () => {
    await initBackend("wasm", { quiet: true });
  });

  test("batched tf.matMul (rank 3 and 4, every transpose) runs the SIMD kernel and matches the cpu backend", async () => {
    const spy = jest.spyOn(batchMatMulModule, "batchMatMulKernel");
    const cases: [number[], number[], boolean, boolean][] = [
      [[2, 3, 70, 16], [2, 3, 16, 70], false, false], // scores: q @ k^T laid out explicitly
      [[2, 3, 70, 16], [2, 3, 70, 16], false, true],
      [[6, 70, 70], [6, 70, 16], false, false], // weights @ v
      [[6, 70, 70], [6, 70, 16], true, false], // their gradient: w^T @ dy
      [[6, 16, 9], [6, 5, 16], true, true],
    ];
    const run = (aShape: number[], bShape: number[], ta: boolean, tb: boolean) =>
      tf.tidy(() => tf.matMul(tf.tensor(values(aShape.reduce((x, y) => x * y), 7), aShape), tf.tensor(values(bShape.reduce((x, y) => x * y), 8), bShape), ta, tb).arraySync());
    const wasm = cases.map((c) => run(...c));
    expect(spy.mock.results.filter((r) => r.value !== null).length).toBe(cases.length);
    spy.mockRestore();
    await initBackend("cpu", { quiet: true });
    const cpu = cases.map((c) => run(...c));
    await initBackend("wasm", { quiet: true });
    const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);
    cases.forEach((_, i) => {
      const [w, c] = [flat(wasm[i]), flat(cpu[i])];
      expect(w.length).toBe(c.length);
      expect(Math.max(...w.map((v, j) => Math.abs(v - c[j])))).toBeLessThan(1e-4);
    });
  });

  test("a single product and a broadcast batch stay with tfjs's kernel", () => {
    const spy = jest.spyOn(batchMatMulModule, "batchMatMulKernel");
    const single = tf.matMul(tf.ones([1, 4, 3]), tf.ones([1, 3, 2]));
    const broadcast = tf.matMul(tf.ones([3, 4, 3]), tf.ones([1, 3, 2]));
    expect(spy.mock.results.map((r) => r.value)).toEqual([null, null]);
    expect(single.arraySync()).toEqual([[[3, 3], [3, 3], [3, 3], [3, 3]]]);
    expect((broadcast.arraySync() as number[][][]).flat(2)).toEqual(Array(24).fill(3));
    spy.mockRestore();
    tf.dispose([single, broadcast]);
  });

  test("with wasmBatchMatMul: false, batches stay with tfjs's kernel too", async () => {
    await initBackend("wasm", { quiet: true, wasmBatchMatMul: false });
    const spy = jest.spyOn(batchMatMulModule, "batchMatMulKernel");
    const y = tf.matMul(tf.ones([3, 4, 3]), tf.ones([3, 3, 2]));
    expect(spy.mock.results.map((r) => r.value)).toEqual([null]);
    expect((y.arraySync() as number[][][]).flat(2)).toEqual(Array(24).fill(3));
    spy.mockRestore();
    y.dispose();
    await initBackend("wasm", { quiet: true });
  });
});

test("the committed binary is the assembled batch-matmul.wat", async () => {
  const bytes = await assembleWat(path.join(WASM_DIR, "batch-matmul.wat"));
  expect(Buffer.from(WASM_BASE64, "base64").equals(Buffer.from(bytes))).toBe(true);
  expect(fs.readFileSync(path.join(WASM_DIR, "batch-matmul-binary.ts"), "utf8")).toBe(binaryModuleSource("batch-matmul.wat", bytes));
});
