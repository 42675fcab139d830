import * as tf from "@tensorflow/tfjs";

// One seeded stream of random numbers for the whole library, like torch.manual_seed:
// every initialisation and dropout mask draws its seed from here, so a seed fixes a run.

/** mulberry32: a small, fast generator; each call returns the next uint32. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

let stream = mulberry32(0);

/** Restart the library's random stream: the same seed gives the same weights and dropout masks. */
export function manualSeed(seed: number): void {
  stream = mulberry32(seed);
}

/** Next seed for a tfjs random op, in [1, 2^31) (tfjs treats a seed of 0 as "unseeded"). */
export function nextSeed(): number {
  return (stream() % 0x7ffffffe) + 1;
}

/** Normal(0, std) samples, like torch.randn(shape) * std. */
export function randn(shape: number[], std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, "float32", nextSeed());
}

/** Uniform samples in [low, high), like torch.empty(shape).uniform_(low, high). */
export function randUniform(shape: number[], low: number, high: number): tf.Tensor {
  return tf.randomUniform(shape, low, high, "float32", nextSeed());
}

/** A random permutation of 0..n-1 (Fisher-Yates), fixed by its seed: for shuffling data. */
export function permutation(n: number, seed: number): number[] {
  const next = mulberry32(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((next() / 4294967296) * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
