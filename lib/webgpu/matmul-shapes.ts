// The sizes of a (batched, transposed) matmul, as the matmul kernels of lib/webgpu read them.

export interface MatMulShapes {
  batch: number;
  m: number;
  n: number;
  k: number;
  aBatch: number;
  bBatch: number;
}

/** Batch, M, N, K of a (transposed) a @ b with tfjs's shapes [..., rows, cols], or null if the batch dims don't broadcast simply. */
export function matmulShapes(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulShapes | null {
  if (aShape.length < 2 || bShape.length < 2) return null;
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const m = transposeA ? ac : ar;
  const k = transposeA ? ar : ac;
  const kb = transposeB ? bc : br;
  const n = transposeB ? br : bc;
  if (k !== kb) return null;
  const aBatchShape = aShape.slice(0, -2);
  const bBatchShape = bShape.slice(0, -2);
  const aBatch = aBatchShape.reduce((x, y) => x * y, 1);
  const bBatch = bBatchShape.reduce((x, y) => x * y, 1);
  // Same batch dims, or one side without any (all ones): other broadcasts stay with tfjs.
  if (aBatch !== 1 && bBatch !== 1 && aBatchShape.join() !== bBatchShape.join()) return null;
  return { batch: Math.max(aBatch, bBatch), m, n, k, aBatch, bBatch };
}
