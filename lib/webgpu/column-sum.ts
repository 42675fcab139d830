import * as tf from "@tensorflow/tfjs";
import { overrideWebGpuKernel, runWgslOnInfos } from "./program";
import { kernelOptions, ColumnSumPlan, DEFAULT_COLUMN_SUM_PLAN } from "./options";

// A bias's gradient and LayerNorm's weight and bias gradients sum a [tokens, features] gradient
// over its tokens: Sum over every axis but the last. tfjs's Sum first transposes the features to
// the front, then reduces rows (results/benchmark/column-sum-gpu.json). Ours reads
// the gradient as it lies: each workgroup sums a block of rows of `columns` vec4 columns (`lanes`
// lanes of threads take every lanes-th row, then add their sums), and the partial sums, a row per
// workgroup, are summed again the same way until one row is left: 6144 rows take two passes.

// How a pass splits the work (ColumnSumPlan, lib/webgpu/options.ts): 16 columns by 16 lanes, 8 rows
// a lane by default, so a warp's 32 threads read two rows' 256 contiguous bytes; bench/column-sum.ts
// times plans.
export type { ColumnSumPlan };
export { DEFAULT_COLUMN_SUM_PLAN };

const rowsPerWorkgroup = (p: ColumnSumPlan) => p.lanes * p.rowsPerLane;

/** Whether ours takes this Sum: float32, over every axis but the last, which divides by 4. */
export function sumsAllButLastAxis(shape: number[], axes: number[], dtype: tf.DataType): boolean {
  if (dtype !== "float32" || shape.length < 2 || shape[shape.length - 1] % 4 !== 0) return false;
  const sorted = [...axes].sort((a, b) => a - b);
  if (sorted.join() !== [...Array(shape.length - 1).keys()].join()) return false;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return rows > 1 && Math.ceil(rows / rowsPerWorkgroup(kernelOptions().columnSumPlan)) <= 65535;
}

/** One pass: x [rows, n] -> [ceil(rows / rows per workgroup), n], each row the sum of a block of x's rows. */
function sumRowBlocks(backend: unknown, x: tf.TensorInfo, rows: number, n: number, p: ColumnSumPlan): tf.TensorInfo {
  const blocks = Math.ceil(rows / rowsPerWorkgroup(p));
  const n4 = n / 4;
  const { columns, lanes } = p;
  return runWgslOnInfos(
    backend,
    {
      key: `column-sum-c${columns}-l${lanes}-r${p.rowsPerLane}`,
      inputs: { x: null },
      vec4Inputs: ["x"],
      vec4Output: true,
      outputShape: [blocks, n],
      workgroupSize: [columns * lanes, 1, 1],
      dispatch: [Math.ceil(n4 / columns), blocks, 1],
      uniforms: [
        { name: "rows", type: "i32", value: rows },
        { name: "n4", type: "i32", value: n4 },
      ],
      code: () => `
      var<workgroup> laneSums : array<vec4<f32>, ${columns * lanes}>;
      fn main() {
        let tid = i32(localIndex);
        let column = i32(workgroupId.x) * ${columns} + tid % ${columns};
        let lane = tid / ${columns};
        let firstRow = i32(workgroupId.y) * ${rowsPerWorkgroup(p)} + lane;
        var sum = vec4<f32>(0.0);
        if (column < uniforms.n4) {
          for (var r = 0; r < ${p.rowsPerLane}; r = r + 1) {
            let row = firstRow + r * ${lanes};
            if (row < uniforms.rows) { sum = sum + x[row * uniforms.n4 + column]; }
          }
        }
        laneSums[tid] = sum;
        workgroupBarrier();
        if (lane == 0 && column < uniforms.n4) {
          var total = laneSums[tid];
          for (var l = 1; l < ${lanes}; l = l + 1) { total = total + laneSums[tid + l * ${columns}]; }
          result[i32(workgroupId.y) * uniforms.n4 + column] = total;
        }
      }`,
    },
    [x],
  );
}

/** x [..., n] summed over every axis but the last: [n] (check sumsAllButLastAxis first). */
export function runColumnSum(backend: unknown, x: tf.TensorInfo): tf.TensorInfo {
  const n = x.shape[x.shape.length - 1];
  let rows = x.shape.reduce((a, b) => a * b, 1) / n;
  const plan = kernelOptions().columnSumPlan;
  let current = x;
  while (rows > 1) {
    const next = sumRowBlocks(backend, current, rows, n, plan);
    if (current !== x) (backend as { disposeData(id: object): void }).disposeData(current.dataId);
    current = next;
    rows = Math.ceil(rows / rowsPerWorkgroup(plan));
  }
  return { ...current, shape: [n] };
}

/** Replace tfjs's Sum on the webgpu backend with ours where sumsAllButLastAxis (others keep tfjs's). */
export function registerWebGpuColumnSum(): void {
  overrideWebGpuKernel("Sum", (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape);
    if (!kernelOptions().ourColumnSum || !sumsAllButLastAxis(x.shape, axes, x.dtype)) return original(args);
    const out = runColumnSum(args.backend, x);
    return keepDims ? { ...out, shape: x.shape.map((d, i) => (i === x.shape.length - 1 ? d : 1)) } : out;
  });
}
