import * as tf from "@tensorflow/tfjs";

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
  const x2d = x.reshape([-1, inFeatures]) as tf.Tensor2D;
  const y = tf.fused.matMul({ a: x2d, b: weight as tf.Tensor2D, transposeB: true, bias: bias ?? undefined });
  return y.reshape([...x.shape.slice(0, -1), outFeatures]);
}

/** GELU with the exact erf, as torch's GELU(approximate='none') and Hugging Face's "gelu". */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** LayerNorm over the last dimension, with the biased variance PyTorch uses. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  if (weight) y = tf.mul(y, weight);
  if (bias) y = tf.add(y, bias);
  return y;
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
