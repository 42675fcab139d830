import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { Linear, LinearLike } from "../nn/layers";
import { matmul, linear } from "../nn/functional";
import { randn } from "../nn/random";

// Chapter 00's code: the LoRA layer, and a Linear with LoRA added to it.

/**
 * How alpha scales the update x @ A @ B:
 * - "alpha": by alpha, as in the tutorial (the default);
 * - "alpha/rank": by alpha / rank, as Hugging Face PEFT and the LoRA paper;
 * - "alpha/sqrt(rank)": by alpha / sqrt(rank), as rsLoRA.
 */
export type LoRAScaling = "alpha" | "alpha/rank" | "alpha/sqrt(rank)";

export function loraScale(alpha: number, rank: number, scaling: LoRAScaling): number {
  if (scaling === "alpha/rank") return alpha / rank;
  if (scaling === "alpha/sqrt(rank)") return alpha / Math.sqrt(rank);
  return alpha;
}

/** The low-rank update alpha * (x @ A @ B). A is small and random, B is zero, so it starts as a no-op. */
export class LoRALayer extends Module {
  static override typeName = "LoRALayer";

  A: tf.Variable; // [inDim, rank]
  B: tf.Variable; // [rank, outDim]
  readonly scale: number;

  constructor(
    readonly inDim: number,
    readonly outDim: number,
    readonly rank: number,
    readonly alpha: number,
    readonly scaling: LoRAScaling = "alpha",
  ) {
    super();
    const stdDev = 1 / Math.sqrt(rank);
    this.A = tf.tidy(() => tf.variable(randn([inDim, rank], stdDev)));
    this.B = tf.tidy(() => tf.variable(tf.zeros([rank, outDim])));
    this.scale = loraScale(alpha, rank, scaling);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(this.scale, matmul(matmul(x, this.A), this.B));
  }
}

/** A Linear layer with a LoRA update added to its output: linear(x) + lora(x). */
export class LinearWithLoRA extends Module implements LinearLike {
  static override typeName = "LinearWithLoRA";

  linear: LinearLike;
  lora: LoRALayer;

  constructor(linear: LinearLike, rank: number, alpha: number, scaling: LoRAScaling = "alpha") {
    super();
    this.linear = linear;
    this.lora = new LoRALayer(linear.inFeatures, linear.outFeatures, rank, alpha, scaling);
  }

  get inFeatures(): number {
    return this.linear.inFeatures;
  }

  get outFeatures(): number {
    return this.linear.outFeatures;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(this.linear.forward(x), this.lora.forward(x));
  }
}

/** The same layer computed as one matmul: x @ (W + alpha * (A @ B)^T)^T + b. */
export class LinearWithLoRAMerged extends Module implements LinearLike {
  static override typeName = "LinearWithLoRAMerged";

  linear: Linear;
  lora: LoRALayer;

  constructor(linear: Linear, rank: number, alpha: number, scaling: LoRAScaling = "alpha") {
    super();
    this.linear = linear;
    this.lora = new LoRALayer(linear.inFeatures, linear.outFeatures, rank, alpha, scaling);
  }

  get inFeatures(): number {
    return this.linear.inFeatures;
  }

  get outFeatures(): number {
    return this.linear.outFeatures;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const lora = tf.matMul(this.lora.A, this.lora.B); // [in, out]
    const combinedWeight = tf.add(this.linear.weight, tf.mul(this.lora.scale, tf.transpose(lora))); // [out, in]
    return linear(x, combinedWeight, this.linear.bias);
  }
}
