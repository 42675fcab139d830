import * as tf from "@tensorflow/tfjs";

// One seeded stream of random numbers for the whole library, like torch.manual_seed:
// every initialisation and dropout mask draws its seed from here, so a seed fixes a run.
// Initial weights are generated here in JavaScript (tens of millions of values a second),
// the same on every backend.

// Hot loops use local copies of Math's functions: a global lookup per element is slow inside
// sandboxed contexts such as jest's (20x here).
const { imul, sqrt, log, cos, sin, PI } = Math;

/** mulberry32: a small, fast generator; each call returns the next uint32. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

// The library's stream: a mulberry32 state, kept here so checkpoints can save and restore it.
let streamState = 0;

/** Restart the library's random stream: the same seed gives the same weights and dropout masks. */
export function manualSeed(seed: number): void {
  streamState = seed >>> 0;
}

/** Where the stream is, to save in a checkpoint (torch.get_rng_state). */
export function getRandomState(): number {
  return streamState;
}

/** Go back to a saved place in the stream (torch.set_rng_state). */
export function setRandomState(state: number): void {
  streamState = state >>> 0;
}

/** Next seed for a tfjs random op, in [1, 2^31) (tfjs treats a seed of 0 as "unseeded"). */
export function nextSeed(): number {
  const next = mulberry32(streamState);
  const value = next();
  streamState = (streamState + 0x6d2b79f5) >>> 0; // mulberry32 advances its state by this constant
  return (value % 0x7ffffffe) + 1;
}

/** Normal(0, std) samples, like torch.randn(shape) * std (Box-Muller on the library's stream). */
export function randn(shape: number[], std = 1): tf.Tensor {
  const next = mulberry32(nextSeed());
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i += 2) {
    const u1 = (next() + 1) / 4294967297; // in (0, 1): log(u1) stays finite
    const u2 = next() / 4294967296;
    const radius = std * sqrt(-2 * log(u1));
    values[i] = radius * cos(2 * PI * u2);
    if (i + 1 < values.length) values[i + 1] = radius * sin(2 * PI * u2);
  }
  return tf.tensor(values, shape);
}

/** Uniform samples in [low, high), like torch.empty(shape).uniform_(low, high). */
export function randUniform(shape: number[], low: number, high: number): tf.Tensor {
  const next = mulberry32(nextSeed());
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = low + (high - low) * (next() / 4294967296);
  return tf.tensor(values, shape);
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
