import * as tf from "@tensorflow/tfjs";
import { customOp } from "./autograd";
import { isWebGpu } from "../webgpu/program";
import { layerNormForwardWebGpu, layerNormBackwardWebGpu } from "../webgpu/layernorm";
import { geluForwardWebGpu, geluBackwardWebGpu } from "../webgpu/elementwise";
import { maskedSoftmaxDropoutBackwardWebGpu, maskedSoftmaxDropoutWebGpu, maskedSoftmaxWebGpu, softmaxBackwardWebGpu, takesFusedSoftmaxDropout } from "../webgpu/softmax";
import { nextSeed } from "./random";
import { linearWithBiasWebGpu, matMulGeluGradWebGpu, webGpuGeluGradTakes, webGpuLinearTakes } from "../webgpu/matmul";

// Stateless math shared by the layers, named after torch.nn.functional.

/** x[..., k] @ w[k, n] -> [..., n]. Folds leading dimensions into one so every backend runs a 2-D matmul. */
export function matmul(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const k = x.shape[x.shape.length - 1];
  const n = w.shape[1] as number;
  const x2d = x.reshape([-1, k]);
  return tf.matMul(x2d, w).reshape([...x.shape.slice(0, -1), n]);
}

/** F.linear: x[..., in] @ weight[out, in]^T + bias[out], with PyTorch's weight layout. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (x.shape[x.shape.length - 1] !== inFeatures) {
    throw new Error(`linear: input of shape [${x.shape}] does not end in in_features=${inFeatures} (weight [${weight.shape}])`);
  }
  const x2d = x.reshape([-1, inFeatures]);
  const outShape = [...x.shape.slice(0, -1), outFeatures];
  // On WebGPU the bias is added inside our matmul kernel; gradients are computed only where needed.
  if (bias && isWebGpu() && webGpuLinearTakes(x2d, weight, bias)) {
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
    ).reshape(outShape);
  }
  // Not tf.fused.matMul: its gradient computes the weight's and the bias's gradients even when they
  // are frozen (LoRA), a third of a step's work. Plain matMul and add compute only what is needed.
  let y = tf.matMul(x2d, weight, false, true);
  if (bias) y = tf.add(y, bias);
  return y.reshape(outShape);
}

/**
 * F.linear(F.gelu(h), weight, bias): the FFN's activation and its second Linear. On WebGPU the
 * backward pass applies GELU's derivative as the product dy @ weight writes its output, one kernel
 * where there were two each reading and writing [tokens, 3072] (lib/webgpu/matmul.ts); the same
 * numbers as the two ops apart, which run everywhere else.
 */
export function linearOfGelu(h: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (h.shape[h.shape.length - 1] !== inFeatures) {
    throw new Error(`linearOfGelu: input of shape [${h.shape}] does not end in in_features=${inFeatures} (weight [${weight.shape}])`);
  }
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
// the backward pass: in LoRA mode that frees each block's [tokens, 3072] GELU output and the
// attention's context after the forward pass instead of holding them until the backward.
const isFrozen = (weight: tf.Tensor) => weight instanceof tf.Variable && !weight.trainable;

function keptFor(input: tf.Tensor | undefined, weight: tf.Tensor): tf.Tensor {
  if (input) return input;
  throw new Error(`linear: no gradient for ${(weight as tf.Variable).name} [${weight.shape}]: it was frozen (trainable = false) in the forward pass, so its input was not kept`);
}

/** GELU with the exact erf, as torch's GELU(approximate='none') and Hugging Face's "gelu". */
export function gelu(x: tf.Tensor): tf.Tensor {
  return customOp(
    { x },
    (save) => {
      save([x]);
      return isWebGpu() ? geluForwardWebGpu(x) : tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    },
    (dy, [xSaved]) => ({
      // d/dx x * Phi(x) = Phi(x) + x * phi(x)
      x: () =>
        isWebGpu()
          ? geluBackwardWebGpu(dy, xSaved)
          : tf.mul(dy, tf.add(tf.mul(0.5, tf.add(1, tf.erf(tf.mul(xSaved, Math.SQRT1_2)))), tf.mul(xSaved, tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(xSaved))))))),
    }),
  );
}

/**
 * Softmax over the last axis (keys) of attention scores [B, H, Tq, Tk] with padding keys masked
 * out: attentionMask [B, Tk] is 1 for tokens, 0 for padding, whose scores drop by 1e9 — their
 * weight underflows to exactly 0.
 */
export function maskedSoftmax(scores: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor {
  const [B, , , T] = scores.shape;
  const mask = attentionMask.toFloat();
  return customOp(
    { scores, mask },
    (save) => {
      const y = isWebGpu() ? maskedSoftmaxWebGpu(scores, mask) : tf.softmax(tf.sub(scores, tf.mul(tf.sub(1, mask).reshape([B, 1, 1, T]), 1e9)), -1);
      save([y]);
      return y;
    },
    (dy, [y]) => ({
      scores: () => (isWebGpu() ? softmaxBackwardWebGpu(dy, y) : tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true)))),
      mask: () => tf.zerosLike(mask), // a mask has no gradient
    }),
  );
}

/**
 * dropout.forward(maskedSoftmax(scores, attentionMask)): the attention's weights, then dropout on
 * them. On WebGPU while training, one kernel each way (lib/webgpu/softmax.ts): the undropped
 * weights are never written, and the backward recomputes them from the scores. Same numbers, same
 * random stream: the seed is drawn exactly when dropout.forward would draw it.
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
 * LayerNorm over the last dimension, with the biased variance PyTorch uses; with `residual`,
 * LayerNorm(x + residual), the transformer block's residual connection and norm, which on WebGPU
 * add the residual as the kernels read x instead of in a kernel of its own each way.
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null, eps: number, residual?: tf.Tensor): tf.Tensor {
  if (residual && (!isWebGpu() || !weight || !bias)) return layerNorm(tf.add(x, residual), weight, bias, eps);
  if (!weight || !bias) return layerNormComposite(x, weight, bias, eps);
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
          weight: () => tf.sum(tf.mul(dy, normalizeWebGpu(xSaved, weightSaved, eps, residualSaved)), leadingAxes),
          bias: () => tf.sum(dy, leadingAxes),
        };
      },
    );
  }
  return customOp(
    { x, weight, bias },
    (save) => {
      save([x, weight]);
      return isWebGpu() ? layerNormForwardWebGpu(x, weight, bias, eps) : layerNormComposite(x, weight, bias, eps);
    },
    (dy, [xSaved, weightSaved]) => ({
      x: () => (isWebGpu() ? layerNormBackwardWebGpu(dy, xSaved, weightSaved, eps) : layerNormBackward(dy, xSaved, weightSaved, eps)),
      weight: () => tf.sum(tf.mul(dy, isWebGpu() ? normalizeWebGpu(xSaved, weightSaved, eps) : normalize(xSaved, eps)), leadingAxes),
      bias: () => tf.sum(dy, leadingAxes),
    }),
  );
}

/** (x - mean) / sqrt(var + eps) over the last dimension. */
function normalize(x: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
}

/** The same on WebGPU (of x + residual, with one): the forward kernel with weight 1 and bias 0, one dispatch where tfjs's moments take eight. */
function normalizeWebGpu(x: tf.Tensor, weight: tf.Tensor, eps: number, residual?: tf.Tensor): tf.Tensor {
  return layerNormForwardWebGpu(x, tf.onesLike(weight), tf.zerosLike(weight), eps, residual);
}

function layerNormComposite(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null, eps: number): tf.Tensor {
  let y = normalize(x, eps);
  if (weight) y = tf.mul(y, weight);
  if (bias) y = tf.add(y, bias);
  return y;
}

/** dL/dx of LayerNorm: rstd * (g - mean(g) - xhat * mean(g * xhat)), with g = dy * weight. */
function layerNormBackward(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const rstd = tf.rsqrt(tf.add(variance, eps));
  const xhat = tf.mul(tf.sub(x, mean), rstd);
  const g = tf.mul(dy, weight);
  const meanG = tf.mean(g, -1, true);
  const meanGX = tf.mean(tf.mul(g, xhat), -1, true);
  return tf.mul(rstd, tf.sub(tf.sub(g, meanG), tf.mul(xhat, meanGX)));
}

/**
 * Mean cross-entropy of logits [..., classes] against integer labels [...], as F.cross_entropy:
 * labels equal to ignoreIndex (-100, as PyTorch) count neither in the sum nor in the mean.
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, ignoreIndex = -100): tf.Scalar {
  const numClasses = logits.shape[logits.shape.length - 1];
  const flatLogits = logits.reshape([-1, numClasses]);
  const flatLabels = labels.reshape([-1]).toInt();
  const logProbs = tf.logSoftmax(flatLogits);
  // oneHot of an out-of-range label (such as -100) is a row of zeros: it picks nothing.
  const picked = tf.sum(tf.mul(logProbs, tf.oneHot(flatLabels, numClasses)), -1);
  const counted = tf.notEqual(flatLabels, ignoreIndex).toFloat();
  return tf.div(tf.neg(tf.sum(tf.mul(picked, counted))), tf.maximum(tf.sum(counted), 1)) as tf.Scalar;
}
