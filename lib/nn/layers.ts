import * as tf from "@tensorflow/tfjs";
import { Module } from "./module";
import * as F from "./functional";
import { randn, randUniform, nextSeed } from "./random";
import { dropout } from "./dropout";
import { pyBool, pyFloat, pyStr, pyTuple } from "./print";

// The layers PyTorch's DistilBERT is made of, with PyTorch's parameter names, shapes,
// default initialisation and print(model) text.

/** Anything that maps [..., inFeatures] to [..., outFeatures]: a Linear, or a Linear with LoRA on it. */
export interface LinearLike extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  forward(x: tf.Tensor): tf.Tensor;
}

/** y = x W^T + b, as torch.nn.Linear: weight [outFeatures, inFeatures], bias [outFeatures]. */
export class Linear extends Module implements LinearLike {
  static override typeName = "Linear";

  weight: tf.Variable;
  bias: tf.Variable | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias (kaiming_uniform with a=sqrt(5)).
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = tf.tidy(() => tf.variable(randUniform([outFeatures, inFeatures], -bound, bound)));
    this.bias = bias ? tf.tidy(() => tf.variable(randUniform([outFeatures], -bound, bound))) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}

/** A lookup table of vectors, as torch.nn.Embedding: weight [numEmbeddings, embeddingDim]. */
export class Embedding extends Module {
  static override typeName = "Embedding";

  weight: tf.Variable;
  readonly paddingIdx: number | null;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, options: { paddingIdx?: number } = {}) {
    super();
    const paddingIdx = options.paddingIdx;
    this.paddingIdx = paddingIdx === undefined ? null : paddingIdx < 0 ? numEmbeddings + paddingIdx : paddingIdx;
    // PyTorch's default: N(0, 1), with the padding row zero.
    this.weight = tf.tidy(() => {
      let init = randn([numEmbeddings, embeddingDim]);
      if (this.paddingIdx !== null) init = zeroRow(init, this.paddingIdx);
      return tf.variable(init);
    });
  }

  /** ids [...] (int32) -> vectors [..., embeddingDim] */
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.weight, ids.toInt());
  }

  override extraRepr(): string {
    const padding = this.paddingIdx === null ? "" : `, padding_idx=${this.paddingIdx}`;
    return `${this.numEmbeddings}, ${this.embeddingDim}${padding}`;
  }
}

/** A copy of a [rows, dim] matrix with one row set to zero. */
export function zeroRow(matrix: tf.Tensor, row: number): tf.Tensor {
  const [rows, dim] = matrix.shape as [number, number];
  const above = matrix.slice([0, 0], [row, dim]);
  const below = matrix.slice([row + 1, 0], [rows - row - 1, dim]);
  return tf.concat([above, tf.zeros([1, dim]), below], 0);
}

/** Normalise over the last dimensions, as torch.nn.LayerNorm: weight ones, bias zeros. */
export class LayerNorm extends Module {
  static override typeName = "LayerNorm";

  weight: tf.Variable | null;
  bias: tf.Variable | null;
  readonly normalizedShape: number[];

  constructor(normalizedShape: number | number[], readonly eps = 1e-5, readonly elementwiseAffine = true) {
    super();
    this.normalizedShape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    this.weight = elementwiseAffine ? tf.tidy(() => tf.variable(tf.ones(this.normalizedShape))) : null;
    this.bias = elementwiseAffine ? tf.tidy(() => tf.variable(tf.zeros(this.normalizedShape))) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.normalizedShape.length === 1) return F.layerNorm(x, this.weight, this.bias, this.eps);
    // Several trailing dimensions: fold them into one and normalise that.
    const size = this.normalizedShape.reduce((a, b) => a * b, 1);
    const flat = x.reshape([...x.shape.slice(0, -this.normalizedShape.length), size]);
    const weight = this.weight?.reshape([size]) ?? null;
    const bias = this.bias?.reshape([size]) ?? null;
    return F.layerNorm(flat, weight, bias, this.eps).reshape(x.shape);
  }

  override extraRepr(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${pyFloat(this.eps)}, elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}

/** Zero each element with probability p in train mode and scale the rest by 1/(1-p); identity in eval mode. */
export class Dropout extends Module {
  static override typeName = "Dropout";

  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout probability has to be between 0 and 1, but got ${p}`);
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.p === 1) return tf.zerosLike(x);
    return dropout(x, this.p, nextSeed());
  }

  override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}

/** GELU, as torch.nn.GELU: exact (erf) by default, or the tanh approximation. */
export class GELU extends Module {
  static override typeName = "GELU";

  constructor(readonly approximate: "none" | "tanh" = "none") {
    super();
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.approximate === "none") return F.gelu(x);
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  }

  override extraRepr(): string {
    return `approximate=${pyStr(this.approximate)}`;
  }
}

export class ReLU extends Module {
  static override typeName = "ReLU";

  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

/** Cross-entropy as a module, as torch.nn.CrossEntropyLoss (Hugging Face's MLM head holds one). */
export class CrossEntropyLoss extends Module {
  static override typeName = "CrossEntropyLoss";

  constructor(readonly ignoreIndex = -100) {
    super();
  }

  forward(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor {
    return F.crossEntropy(logits, labels, this.ignoreIndex);
  }
}
