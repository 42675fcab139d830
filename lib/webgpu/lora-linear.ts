import * as tf from "@tensorflow/tfjs";
import { customOp } from "../nn/autograd";
import { Linear } from "../nn/layers";
import { isExactly } from "../nn/module";
import { LinearWithLoRA, LoRALayer } from "../lora/lora";
import { isWebGpu } from "./program";
import { kernelOptions } from "./options";
import { linearWithBiasWebGpu, matmulShapes, matMulPlusLowRankWebGpu, ourTileFor, webGpuLowRankTakes } from "./matmul";
import { skinnyGradientOfViews, skinnyOfBlocks, takesSkinnyGradient } from "./skinny";

// LinearWithLoRA.forward on WebGPU (lib/webgpu/inject.ts puts it in place): x @ W^T + b + scale *
// (x @ A) @ B as one op, the update added as the base product writes its output. Run as the
// module writes it, the update's [tokens, out] product, its scaled copy and the sum are three more
// tensors of the output's size, each kept for the backward pass by the op after it (tfjs's
// multiply and add keep both inputs): three [tokens, 3072] tensors a layer with LoRA on the FFN.
// Here the op keeps x (for A's gradient), h = scale * x @ A [tokens, r] and A laid out as rows.
// The attention's q, k, v do the same inside their joint projection (lib/webgpu/attention.ts).

/** Whether the fused op takes this layer and input: a LinearWithLoRA of exact classes with a bias, rank at most 16, widths the skinny kernels read as vec4s, at least 64 rows. */
export function loraLinearTakes(layer: LinearWithLoRA, x: tf.Tensor): boolean {
  const { linear, lora } = layer;
  if (!isWebGpu() || !kernelOptions().loraInsideProjections) return false;
  if (!isExactly(linear, Linear) || !isExactly(lora, LoRALayer) || linear.bias === null) return false;
  const [inFeatures, outFeatures, rank] = [linear.inFeatures, linear.outFeatures, lora.rank];
  if (x.shape[x.rank - 1] !== inFeatures || [x, linear.weight, linear.bias, lora.A, lora.B].some((t) => t.dtype !== "float32")) return false;
  const rows = x.size / inFeatures;
  const factorGradient = (wide: number) => takesSkinnyGradient({ batch: 1, m: wide, n: rank, k: rows, aBatch: 1, bBatch: 1 }, true, false);
  // The factor-gradient check also asks for widths of whole vec4s, as the skinny kernels read them.
  return (
    rows >= 64 &&
    factorGradient(inFeatures) &&
    factorGradient(outFeatures) &&
    ourTileFor(matmulShapes([rows, inFeatures], linear.weight.shape, false, true), ["float32"], false, true) !== null &&
    webGpuLowRankTakes([rows, outFeatures], [outFeatures, inFeatures], rank)
  );
}

/**
 * The layer's forward as one op (check loraLinearTakes first). Forward: h = scale * x @ A (one
 * skinny pass over x); y = x @ W^T + b + h @ B in one matmul. Backward: dh = scale * dy @ B^T;
 * dx = dy @ W + dh @ A^T in one matmul; dA = x^T @ dh; dB = h^T @ dy; dW = dy^T @ x and db, only
 * where the base weights train. The numbers of LinearWithLoRA.forward, without its three wide tensors.
 */
export function linearWithLoRA(layer: LinearWithLoRA, x: tf.Tensor): tf.Tensor {
  const { lora } = layer;
  const { weight, bias } = layer.linear as Linear; // loraLinearTakes checked the class and the bias
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  const { rank, scale } = lora;
  const x2d = x.reshape([-1, inFeatures]);
  const columns = (width: number) => ({ stride: width, offset: 0, width });
  const firstBlock = Array<number>(rank).fill(0);
  const y = customOp(
    { x: x2d, weight, bias: bias!, A: lora.A, B: lora.B },
    (save) => {
      // A [in, r] as rows [r, in]: x @ A reads them along `in`, as the dx epilogue does.
      const aRows = tf.transpose(lora.A);
      const h = skinnyOfBlocks(x2d, aRows, firstBlock, Array<number>(rank).fill(scale)); // [rows, r]
      save([x2d, weight, h, aRows]);
      return linearWithBiasWebGpu(x2d, weight, bias!, { left: h, right: lora.B });
    },
    (dy, [xSaved, weightSaved, h, aRows]) => {
      // Needed by dx and dA (A always trains): made once, outside the thunks, whose results alone outlive them.
      const dh = skinnyOfBlocks(dy, lora.B, firstBlock, Array<number>(rank).fill(scale)); // [rows, r]
      return {
        x: () => matMulPlusLowRankWebGpu(dy, weightSaved, dh, aRows),
        weight: () => tf.matMul(dy, xSaved, true, false),
        bias: () => tf.sum(dy, 0),
        A: () => skinnyGradientOfViews(xSaved, columns(inFeatures), dh, columns(rank), 1),
        B: () => skinnyGradientOfViews(h, columns(rank), dy, columns(outFeatures), 1),
      };
    },
  );
  return y.reshape([...x.shape.slice(0, -1), outFeatures]);
}
