import * as tf from "@tensorflow/tfjs";
import { isExactly } from "../nn/module";
import { GELU, LayerNorm, Linear } from "../nn/layers";
import { DistilBertSelfAttention, FFN, GELUActivation, TransformerBlock } from "../models/distilbert";
import { isWebGpu } from "./program";
import { kernelOptions } from "./options";
import { fusedAttentionForward } from "./attention";
import { LinearWithLoRA } from "../lora/lora";
import { linearWithLoRA, loraLinearTakes } from "./lora-linear";
import * as W from "./functional";

// Kernel injection, as Liger-Kernel and DeepSpeed do it: the model's source stays as the paper and
// Hugging Face write it, and this step swaps fused implementations in for some of its modules'
// forward methods. initBackend("webgpu") performs it. Each replacement runs only on the webgpu
// backend with `fusedModules` on (lib/webgpu/options.ts) and calls the module's own forward
// everywhere else, so a model built before or after, on any backend, computes the same numbers.
//
//   module                     plain forward                     injected on WebGPU
//   Linear                     x @ W^T + b (two tfjs ops)        one matmul kernel, the bias added inside
//   GELU (exact)               erf formula (several ops)         one kernel each way
//   LayerNorm                  moments, then scale and shift     one kernel each way
//   DistilBertSelfAttention    q, k, v one by one; softmax,      q, k, v (and their LoRA updates) as one op;
//                              then dropout                      softmax and dropout as one kernel each way
//   LinearWithLoRA             linear(x) + scale * x @ A @ B     one op: the update added inside the
//                                                                    base product, each way
//   FFN                        lin2(gelu(lin1(x)))               GELU's derivative applied inside lin2's
//                                                                backward matmul
//   TransformerBlock           LN(x + attention(x))              the residual added as LayerNorm reads x
//
// Subclasses that override forward keep theirs: an override is reached before the replaced method.

type Method = (this: never, ...args: never[]) => tf.Tensor;

const originals = new Map<object, Map<string, Method>>();

/** Replace proto[name] by make(original), remembering the original (once per method). */
function replace<T extends object>(proto: T, name: keyof T & string, make: (original: Method) => Method): void {
  const kept = originals.get(proto) ?? new Map<string, Method>();
  originals.set(proto, kept);
  if (kept.has(name)) return;
  const original = proto[name] as unknown as Method;
  kept.set(name, original);
  (proto as Record<string, unknown>)[name] = make(original);
}

const fused = () => isWebGpu() && kernelOptions().fusedModules;

/** Swap the fused WebGPU implementations into the modules' forward methods (idempotent). */
export function injectWebGpuKernels(): void {
  replace(Linear.prototype, "forward", (original) =>
    function (this: Linear, x: tf.Tensor) {
      return fused() ? W.linear(x, this.weight, this.bias) : (original as unknown as Linear["forward"]).call(this, x);
    } as unknown as Method,
  );
  replace(LinearWithLoRA.prototype, "forward", (original) =>
    function (this: LinearWithLoRA, x: tf.Tensor) {
      return fused() && loraLinearTakes(this, x) ? linearWithLoRA(this, x) : (original as unknown as LinearWithLoRA["forward"]).call(this, x);
    } as unknown as Method,
  );
  replace(GELU.prototype, "forward", (original) =>
    function (this: GELU, x: tf.Tensor) {
      return fused() && this.approximate === "none" ? W.gelu(x) : (original as unknown as GELU["forward"]).call(this, x);
    } as unknown as Method,
  );
  replace(LayerNorm.prototype, "forward", (original) =>
    function (this: LayerNorm, x: tf.Tensor) {
      return fused() && this.normalizedShape.length === 1 ? W.layerNorm(x, this.weight, this.bias, this.eps) : (original as unknown as LayerNorm["forward"]).call(this, x);
    } as unknown as Method,
  );
  replace(DistilBertSelfAttention.prototype, "forward", (original) =>
    function (this: DistilBertSelfAttention, x: tf.Tensor, attentionMask: tf.Tensor) {
      return fused() ? fusedAttentionForward(this, x, attentionMask) : (original as unknown as DistilBertSelfAttention["forward"]).call(this, x, attentionMask);
    } as unknown as Method,
  );
  replace(FFN.prototype, "forward", (original) =>
    function (this: FFN, x: tf.Tensor) {
      // GELU into a plain Linear only: a LoRA-adapted lin2 (or another activation) runs the modules one by one.
      const { activation, lin2 } = this;
      const geluIntoLinear = isExactly(activation, GELUActivation) && activation.approximate === "none" && isExactly(lin2, Linear);
      if (!fused() || !geluIntoLinear) return (original as unknown as FFN["forward"]).call(this, x);
      return this.dropout.forward(W.linearOfGelu(this.lin1.forward(x), lin2.weight, lin2.bias));
    } as unknown as Method,
  );
  replace(TransformerBlock.prototype, "forward", (original) =>
    function (this: TransformerBlock, x: tf.Tensor, attentionMask: tf.Tensor) {
      const norms = [this.sa_layer_norm, this.output_layer_norm];
      if (!fused() || !norms.every((n) => isExactly(n, LayerNorm) && n.normalizedShape.length === 1)) {
        return (original as unknown as TransformerBlock["forward"]).call(this, x, attentionMask);
      }
      // LN(sublayer(x) + x), the residual added inside the LayerNorm's kernels.
      const addAndNorm = (norm: LayerNorm, y: tf.Tensor, residual: tf.Tensor) => W.layerNorm(y, norm.weight, norm.bias, norm.eps, residual);
      const attended = addAndNorm(this.sa_layer_norm, this.attention.forward(x, attentionMask), x);
      return addAndNorm(this.output_layer_norm, this.ffn.forward(attended), attended);
    } as unknown as Method,
  );
}

/** Put every module's own forward back (tests compare the two on one backend). */
export function removeWebGpuKernels(): void {
  for (const [proto, methods] of originals) {
    for (const [name, original] of methods) (proto as Record<string, unknown>)[name] = original;
  }
  originals.clear();
}
