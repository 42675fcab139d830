import * as tf from "@tensorflow/tfjs";
import { customOp } from "./autograd";

// Stateless math shared by the layers, named after torch.nn.functional, in tfjs ops that run on
// every backend. On WebGPU, lib/webgpu/inject.ts swaps fused kernels in for the layers that call
// these (lib/webgpu/functional.ts), with the same numbers.

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
  // Not tf.fused.matMul: its gradient computes the weight's and the bias's gradients even when they
  // are frozen (LoRA), a third of a step's work. Plain matMul and add compute only what is needed.
  let y = tf.matMul(x2d, weight, false, true);
  if (bias) y = tf.add(y, bias);
  return y.reshape(outShape);
}

/**
 * Kernels a backend may register for GELU and its gradient (inputs x; x and dy), each one pass
 * over the tensor: the wasm backend does (lib/wasm/gelu.ts). Elsewhere gelu() runs the ops below.
 */
export const GELU_KERNEL = "LoRABookGelu";
export const GELU_GRAD_KERNEL = "LoRABookGeluGrad";

/** GELU with the exact erf, as torch's GELU(approximate='none') and Hugging Face's "gelu". */
export function gelu(x: tf.Tensor): tf.Tensor {
  const backend = tf.getBackend();
  const kernels = x.dtype === "float32" && tf.getKernel(GELU_KERNEL, backend) !== undefined && tf.getKernel(GELU_GRAD_KERNEL, backend) !== undefined;
  return customOp(
    { x },
    (save) => {
      save([x]);
      if (kernels) return tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor;
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    },
    (dy, [xSaved]) => ({
      // d/dx x * Phi(x) = Phi(x) + x * phi(x)
      x: () =>
        kernels
          ? (tf.engine().runKernel(GELU_GRAD_KERNEL, { x: xSaved, dy }) as tf.Tensor)
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
      const y = tf.softmax(tf.sub(scores, tf.mul(tf.sub(1, mask).reshape([B, 1, 1, T]), 1e9)), -1);
      save([y]);
      return y;
    },
    (dy, [y]) => ({
      scores: () => tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true))),
      mask: () => tf.zerosLike(mask), // a mask has no gradient
    }),
  );
}

/** LayerNorm over the last dimension, with the biased variance PyTorch uses. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null, eps: number): tf.Tensor {
  if (!weight || !bias) return layerNormComposite(x, weight, bias, eps);
  const leadingAxes = x.shape.slice(0, -1).map((_, i) => i);
  return customOp(
    { x, weight, bias },
    (save) => {
      save([x, weight]);
      return layerNormComposite(x, weight, bias, eps);
    },
    (dy, [xSaved, weightSaved]) => ({
      x: () => layerNormBackward(dy, xSaved, weightSaved, eps),
      weight: () => tf.sum(tf.mul(dy, normalize(xSaved, eps)), leadingAxes),
      bias: () => tf.sum(dy, leadingAxes),
    }),
  );
}

/** (x - mean) / sqrt(var + eps) over the last dimension. */
function normalize(x: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
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
