import * as tf from "@tensorflow/tfjs";
import { dispatch2d, overrideWebGpuKernel, runWgslOnInfos, WORKGROUP_INDEX } from "./program";

// Attention splits [batch, tokens, heads, 64] into [batch, heads, tokens, 64] and merges it back:
// a transpose with perm [0, 2, 1, 3], several per layer in a training step. The last axis stays
// contiguous, so each thread copies one vec4 with a little index arithmetic; tfjs's general
// kernel moves one float per thread.

const THREADS = 256;

/** Whether ours takes this transpose: float32, perm [0, 2, 1, 3], last axis a multiple of 4. */
export function swapsMiddleAxes(shape: number[], perm: number[], dtype: tf.DataType): boolean {
  return dtype === "float32" && shape.length === 4 && perm.join() === "0,2,1,3" && shape[3] % 4 === 0;
}

/** x [a, b, c, d] -> [a, c, b, d] on TensorInfos inside a kernel. */
export function runSwapMiddleAxes(backend: unknown, x: tf.TensorInfo): tf.TensorInfo {
  const [a, b, c, d] = x.shape;
  const count = (a * b * c * d) / 4;
  return runWgslOnInfos(
    backend,
    {
      key: "swap-middle-axes",
      inputs: { x: null },
      vec4Inputs: ["x"],
      vec4Output: true,
      outputShape: [a, c, b, d],
      workgroupSize: [THREADS, 1, 1],
      dispatch: dispatch2d(Math.ceil(count / THREADS)),
      uniforms: [
        { name: "count", type: "i32", value: count },
        { name: "b", type: "i32", value: b },
        { name: "c", type: "i32", value: c },
        { name: "d4", type: "i32", value: d / 4 },
      ],
      code: () => `
      fn main() {
        let i = ${WORKGROUP_INDEX} * ${THREADS} + i32(localIndex);
        if (i < uniforms.count) {
          // i indexes the output [a, c, b, d / 4]
          let q = i % uniforms.d4;
          let row = i / uniforms.d4;
          let ib = row % uniforms.b;
          let ic = (row / uniforms.b) % uniforms.c;
          let ia = row / (uniforms.b * uniforms.c);
          result[i] = x[((ia * uniforms.b + ib) * uniforms.c + ic) * uniforms.d4 + q];
        }
      }`,
    },
    [x],
  );
}

/** Whether perm leaves every axis where it is: tf.gather's gradient transposes that way twice. */
export const isIdentityPerm = (perm: number[]) => perm.every((axis, i) => axis === i);

/**
 * Replace tfjs's Transpose on the webgpu backend with ours where swapsMiddleAxes (others keep
 * tfjs's), and skip the copy of an identity perm: tfjs's kernel copies the tensor anyway, which for
 * the word embeddings' gradient in full fine-tuning is the largest tensor of a step.
 */
export function registerWebGpuTranspose(): void {
  overrideWebGpuKernel("Transpose", (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (isIdentityPerm(perm)) {
      // The output shares the input's buffer, as tfjs's Reshape and Identity kernels do.
      (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    }
    return swapsMiddleAxes(x.shape, perm, x.dtype) ? runSwapMiddleAxes(args.backend, x) : original(args);
  });
}
