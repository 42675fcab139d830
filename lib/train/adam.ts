import * as tf from "@tensorflow/tfjs";
import { isWebGpu } from "../webgpu/program";
import { adamUpdateWebGpu } from "../webgpu/adam";
import { adamInPlace, adamInPlaceTakes } from "../webgpu/adam-in-place";

// Adam as torch.optim.Adam (and AdamW with weightDecay): one first- and second-moment tensor per
// trained parameter, kept beside it. Written out here rather than taken from tf.train.adam so the
// update is visible, and so a checkpoint can save and restore the moments by parameter name.

export interface AdamOptions {
  learningRate: number;
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  epsilon?: number; // 1e-8, as PyTorch (tfjs's default is 1e-7)
  /** Decoupled weight decay (AdamW); 0, the default, is plain Adam. */
  weightDecay?: number;
}

export class Adam {
  /** Mutable so a schedule (warm-up) can set it before each update. */
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  /** Updates applied so far (PyTorch's `step`), for the bias correction. */
  step = 0;
  private readonly moments = new Map<tf.Variable, { m: tf.Variable; v: tf.Variable }>();

  /** `parameters` are the ones it trains: build the list from the trainable parameters only. */
  constructor(readonly parameters: tf.Variable[], options: AdamOptions) {
    if (parameters.length === 0) throw new Error("Adam: no trainable parameters (is everything frozen?)");
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const p of parameters) {
      this.moments.set(p, tf.tidy(() => ({ m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) })));
    }
  }

  /** One update from gradients keyed by variable name (what tf.variableGrads returns). */
  applyGradients(grads: tf.NamedTensorMap): void {
    this.step++;
    const { beta1, beta2, epsilon } = this;
    const stepSize = this.learningRate / (1 - beta1 ** this.step);
    const secondMomentCorrection = Math.sqrt(1 - beta2 ** this.step);
    tf.tidy(() => {
      for (const p of this.parameters) {
        const g = grads[p.name];
        if (!g) continue; // not connected to the loss: no update, as PyTorch skips params whose grad is None
        const { m, v } = this.moments.get(p)!;
        if (isWebGpu()) {
          const constants = { beta1, beta2, epsilon, stepSize, secondMomentCorrection, decay: 1 - this.learningRate * this.weightDecay };
          // The same update in one dispatch, in place (lib/webgpu/adam-in-place.ts), or in three kernels instead of eleven (lib/webgpu/adam.ts).
          if (adamInPlaceTakes(p, g, m, v)) {
            adamInPlace(p, g, m, v, constants);
            continue;
          }
          const updated = adamUpdateWebGpu(p, g, m, v, constants);
          m.assign(updated.m);
          v.assign(updated.v);
          p.assign(updated.p);
          continue;
        }
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const decayed = this.weightDecay > 0 ? tf.mul(p, 1 - this.learningRate * this.weightDecay) : p;
        // p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        const denominator = tf.add(tf.div(tf.sqrt(v), secondMomentCorrection), epsilon);
        p.assign(tf.sub(decayed, tf.mul(stepSize, tf.div(m, denominator))));
      }
    });
  }

  /** The moments of each parameter, for a checkpoint. */
  state(): { step: number; moments: { m: tf.Variable; v: tf.Variable }[] } {
    return { step: this.step, moments: this.parameters.map((p) => this.moments.get(p)!) };
  }

  /** Restore what state() gave, in the same parameter order. */
  loadState(step: number, moments: { m: tf.Tensor; v: tf.Tensor }[]): void {
    if (moments.length !== this.parameters.length) {
      throw new Error(`Adam.loadState: ${moments.length} saved moments for ${this.parameters.length} parameters`);
    }
    this.step = step;
    this.parameters.forEach((p, i) => {
      const { m, v } = this.moments.get(p)!;
      m.assign(moments[i].m);
      v.assign(moments[i].v);
    });
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
  }
}
