/** The matmuls of a DistilBERT training step at batch 12 x 512 tokens, and one square reference. */
// [a shape, b shape, transposeA, transposeB, what it is]
export const MATMUL_SHAPES: [number[], number[], boolean, boolean, string][] = [
  [[6144, 768], [768, 768], false, true, "q/k/v/out: x @ W^T"],
  [[6144, 768], [3072, 768], false, true, "lin1: x @ W^T"],
  [[6144, 3072], [768, 3072], false, true, "lin2: x @ W^T"],
  [[6144, 768], [768, 768], false, false, "dx = dy @ W"],
  [[6144, 768], [768, 3072], false, false, "lin2 dx"],
  [[6144, 3072], [3072, 768], false, false, "lin1 dx"],
  [[6144, 768], [6144, 768], true, false, "dW = dy^T @ x (768x768)"],
  [[6144, 3072], [6144, 768], true, false, "dW lin1"],
  [[144, 512, 64], [144, 512, 64], false, true, "attention q @ k^T"],
  [[144, 512, 512], [144, 512, 64], false, false, "attention p @ v"],
  [[144, 512, 512], [144, 512, 64], true, false, "attention dv = p^T @ dctx"],
  [[6144, 768], [768, 8], false, false, "LoRA x @ A"],
  [[6144, 768], [8, 768], false, true, "LoRA dh = dy @ B^T"],
  [[6144, 8], [8, 768], false, false, "LoRA h @ B"],
  [[6144, 8], [768, 8], false, true, "LoRA dx = dh @ A^T"],
  [[6144, 768], [6144, 8], true, false, "LoRA dA = x^T @ dh"],
  [[6144, 8], [6144, 768], true, false, "LoRA dB = h^T @ dy"],
  [[4096, 4096], [4096, 4096], false, false, "4096^3"],
  // Attention's q, k, v as one matmul (lib/models/attention-projections.ts), and its dx.
  [[6144, 768], [2304, 768], false, true, "q, k, v together: x @ W^T"],
  [[6144, 2304], [2304, 768], false, false, "q, k, v together: dx"],
  // The other weights' gradients of full fine-tuning.
  [[6144, 768], [6144, 3072], true, false, "dW lin2"],
  [[6144, 2304], [6144, 768], true, false, "dW q, k, v together"],
];
