import { mulberry32 } from "../../lib/nn/random";

/** n fixed pseudo-random numbers, uniform in [offset - scale, offset + scale). */
export function values(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => offset + scale * ((rand() / 4294967296) * 2 - 1));
}
