import * as tf from "@tensorflow/tfjs";
import * as F from "../nn/functional";
import { customOp } from "../nn/autograd";
import { nextSeed } from "../nn/random";
import { isWebGpu } from "./program";
import { layerNormForwardWebGpu, layerNormBackwardWebGpu } from "./layernorm";
import { geluForwardWebGpu, geluBackwardWebGpu } from "./elementwise";
import { maskedSoftmaxDropoutBackwardWebGpu, maskedSoftmaxDropoutWebGpu, maskedSoftmaxWebGpu, softmaxBackwardWebGpu, takesFusedSoftmaxDropout } from "./softmax";
import { linearWithBiasWebGpu, matMulGeluGradWebGpu, webGpuGeluGradTakes, webGpuLinearTakes } from "./matmul";

// lib/nn/functional.ts's math on our WebGPU kernels, with the same numbers: what lib/webgpu/inject.ts
// swaps in for the layers. Each function falls back to the plain one where its kernels do not take
// the inputs (another backend, dtype or shape), so it is right wherever it is called.

/** F.linear with the bias added inside our matmul kernel; gradients computed only where needed. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (x.shape[x.shape.length - 1] !== inFeatures) return F.linear(x, weight, bias); // F.linear names the bad shape
  const x2d = x.reshape([-1, inFeatures]);
  if (!bias || !isWebGpu() || !webGpuLinearTakes(x2d, weight, bias)) return F.linear(x, weight, bias);
  return customOp(
    { x: x2d, weight, bias },
    (save) => {
      save(isFrozen(weight) ? [weight] : [weight, x2d]);
      return linearWithBiasWebGpu(x2d, weight, bias);
    },
    (dy, [weightSaved, xSaved]) => ({
      x: () => tf.matMul(dy, weightSaved),
      weight: () => tf.matMul(dy, keptFor(xSaved, weight), true, false),
      bias: () => tf.sum(dy, 0),
    }),
  ).reshape([...x.shape.slice(0, -1), outFeatures]);
}

/**
 * F.linear(F.gelu(h), weight, bias): the FFN's activation and its second Linear. The backward pass
 * applies GELU's derivative as the product dy @ weight writes its output, one kernel where there
 * were two each reading and writing [tokens, hidden] (lib/webgpu/matmul.ts).
 */
export function linearOfGelu(h: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (h.shape[h.shape.length - 1] !== inFeatures) return F.linear(gelu(h), weight, bias);
  const h2d = h.reshape([-1, inFeatures]);
  if (!bias || !isWebGpu() || h.dtype !== "float32" || !webGpuLinearTakes(h2d, weight, bias) || !webGpuGeluGradTakes(h2d.shape[0], weight)) {
    return linear(gelu(h), weight, bias);
  }
  return customOp(
    { h: h2d, weight, bias },
    (save) => {
      const g = geluForwardWebGpu(h2d);
      save(isFrozen(weight) ? [h2d, weight] : [h2d, weight, g]);
      return linearWithBiasWebGpu(g, weight, bias);
    },
    (dy, [hSaved, weightSaved, gSaved]) => ({
      h: () => matMulGeluGradWebGpu(dy, weightSaved, hSaved),
      weight: () => tf.matMul(dy, keptFor(gSaved, weight), true, false),
      bias: () => tf.sum(dy, 0),
    }),
  ).reshape([...h.shape.slice(0, -1), outFeatures]);
}

// A frozen weight's gradient is never asked for, so the input it would multiply is not kept for
// the backward pass: in LoRA mode that frees each block's GELU output and the attention's context
// after the forward pass instead of holding them until the backward.
const isFrozen = (weight: tf.Tensor) => weight instanceof tf.Variable && !weight.trainable;

function keptFor(input: tf.Tensor | undefined, weight: tf.Tensor): tf.Tensor {
  if (input) return input;
  throw new Error(`linear: no gradient for ${(weight as tf.Variable).name} [${weight.shape}]: it was frozen (trainable = false) in the forward pass, so its input was not kept`);
}

/** F.gelu, one kernel each way. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (!isWebGpu()) return F.gelu(x);
  return customOp(
    { x },
    (save) => {
      save([x]);
      return geluForwardWebGpu(x);
    },
    (dy, [xSaved]) => ({ x: () => geluBackwardWebGpu(dy, xSaved) }),
  );
}

/** F.maskedSoftmax, one kernel each way. */
export function maskedSoftmax(scores: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor {
  if (!isWebGpu()) return F.maskedSoftmax(scores, attentionMask);
  const mask = attentionMask.toFloat();
  return customOp(
    { scores, mask },
    (save) => {
      const y = maskedSoftmaxWebGpu(scores, mask);
      save([y]);
      return y;
    },
    (dy, [y]) => ({
      scores: () => softmaxBackwardWebGpu(dy, y),
      mask: () => tf.zerosLike(mask), // a mask has no gradient
    }),
  );
}

/**
 * dropout.forward(maskedSoftmax(scores, attentionMask)): the attention's weights, then dropout on
 * them, one kernel each way while training: the undropped weights are never written, and the
 * backward recomputes them from the scores. Same numbers, same random stream: the seed is drawn
 * exactly when dropout.forward would draw it.
 */
export function maskedSoftmaxDropout(scores: tf.Tensor, attentionMask: tf.Tensor, dropout: { p: number; training: boolean; forward(x: tf.Tensor): tf.Tensor }): tf.Tensor {
  const fused = isWebGpu() && dropout.training && dropout.p > 0 && dropout.p < 1 && scores.rank === 4 && takesFusedSoftmaxDropout(scores.shape[3] ?? 0);
  if (!fused) return dropout.forward(maskedSoftmax(scores, attentionMask));
  const rate = dropout.p;
  const seed = nextSeed();
  const mask = attentionMask.toFloat();
  return customOp(
    { scores, mask },
    (save) => {
      save([scores, mask]);
      return maskedSoftmaxDropoutWebGpu(scores, mask, rate, seed);
    },
    (dy, [scoresSaved, maskSaved]) => ({
      scores: () => maskedSoftmaxDropoutBackwardWebGpu(dy, scoresSaved, maskSaved, rate, seed),
      mask: () => tf.zerosLike(mask), // a mask has no gradient
    }),
  );
}

/**
 * F.layerNorm, or with `residual` F.layerNorm(x + residual): the transformer block's residual
 * connection and norm, the residual added as the kernels read x instead of in a kernel of its own
 * each way.
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null, eps: number, residual?: tf.Tensor): tf.Tensor {
  if (!isWebGpu() || !weight || !bias) return F.layerNorm(residual ? tf.add(x, residual) : x, weight, bias, eps);
  const leadingAxes = x.shape.slice(0, -1).map((_, i) => i);
  if (residual) {
    return customOp(
      { x, residual, weight, bias },
      (save) => {
        save([x, residual, weight]);
        return layerNormForwardWebGpu(x, weight, bias, eps, residual);
      },
      (dy, [xSaved, residualSaved, weightSaved]) => {
        // x and the residual get the same gradient: computed once, and the second gets its own handle.
        let dx: tf.Tensor | null = null;
        const gradient = () => (dx ? dx.clone() : (dx = layerNormBackwardWebGpu(dy, xSaved, weightSaved, eps, residualSaved)));
        return {
          x: gradient,
          residual: gradient,
          weight: () => tf.sum(tf.mul(dy, normalize(xSaved, weightSaved, eps, residualSaved)), leadingAxes),
          bias: () => tf.sum(dy, leadingAxes),
        };
      },
    );
  }
  return customOp(
    { x, weight, bias },
    (save) => {
      save([x, weight]);
      return layerNormForwardWebGpu(x, weight, bias, eps);
    },
    (dy, [xSaved, weightSaved]) => ({
      x: () => layerNormBackwardWebGpu(dy, xSaved, weightSaved, eps),
      weight: () => tf.sum(tf.mul(dy, normalize(xSaved, weightSaved, eps)), leadingAxes),
      bias: () => tf.sum(dy, leadingAxes),
    }),
  );
}

/** (x - mean) / sqrt(var + eps) of x (+ residual): the forward kernel with weight 1 and bias 0, one dispatch where tfjs's moments take eight. */
function normalize(x: tf.Tensor, weight: tf.Tensor, eps: number, residual?: tf.Tensor): tf.Tensor {
  return layerNormForwardWebGpu(x, tf.onesLike(weight), tf.zerosLike(weight), eps, residual);
}
