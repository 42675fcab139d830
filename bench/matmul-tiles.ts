// Which tile shape of our WGSL matmul is fastest at each of the encoder's matmul shapes: every
// variant and tfjs's own kernel timed in one run on the GPU (after a warm-up, so clocks are up).
//
//   node .gpu/app/matmul-tiles.mjs --out $OUT/matmul-tiles.json
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { MatMulShapes, matmulShapes, matMulWithTile, splitKFor, tile, Tile, tileKey } from "../lib/webgpu/matmul";
import { setKernelOptions } from "../lib/webgpu/options";
import { MATMUL_SHAPES } from "./matmul-shapes";
import { takesSkinny } from "../lib/webgpu/skinny";
import { time as timeWall, timeKernels } from "./gpu-timing";

// Tiles with the K loop unrolled (u), some also with padded, conflict-free staging (p); the
// first three also with K split in chunks, for the products whose output tiles fill the GPU only
// a wave and a bit (288 tiles of 128 x 128 for a 6144 x 768 output on 132 SMs). Double-buffered
// workgroup tiles and K steps of 32 lost at every shape (results/benchmark/matmul-tiles-double.json);
// double buffering lost again with 2-D tiles (results/benchmark/double-buffer-2d-ab-gpu.json); warps
// laid out 4 x 8 or 8 x 4 lanes instead of 2 x 16 changed nothing (results/benchmark/matmul-tiles-lanes.json).
const VARIANTS: Tile[] = [
  tile(128, 128, 16, { unroll: true }),
  tile(64, 128, 16, { unroll: true }),
  tile(128, 64, 16, { unroll: true }),
  tile(128, 128, 16, { unroll: true, pad: true }),
  tile(128, 64, 16, { unroll: true, pad: true }),
  tile(64, 64, 16, { unroll: true }),
  tile(64, 64, 16),
  tile(128, 128, 8, { unroll: true }),
  // K steps of 32 again, since whole tiles run without bounds checks: they lost at every shape
  // but one (results/benchmark/matmul-tiles-exact.json).
  tile(128, 128, 32, { unroll: true }),
  tile(128, 64, 32, { unroll: true }),
  tile(64, 128, 32, { unroll: true }),
];
const SPLIT_VARIANTS = 3;
const SPLITS = [2, 3, 4, 6];

/** "128x256x16u" -> tile(128, 256, 16, { unroll: true }); a "p" suffix pads; "t16x8" a grid of 16 x 8 threads. */
function parseTile(key: string): Tile {
  const match = /^(\d+)x(\d+)x(\d+)(u?)(p?)(?:t(\d+)x(\d+))?$/.exec(key);
  if (!match) throw new Error(`--tiles: "${key}" is not a tile key such as 128x128x16u or 128x128x16ut16x8`);
  const [bm, bn, bk] = match.slice(1, 4).map(Number);
  const threads: [number, number] = match[6] ? [Number(match[6]), Number(match[7])] : [16, 16];
  if (bm % (4 * threads[0]) !== 0 || bn % (4 * threads[1]) !== 0) throw new Error(`--tiles: ${key}: a tile's rows and columns are multiples of 4 x its thread grid's (${threads.join(" x ")})`);
  return tile(bm, bn, bk, { unroll: match[4] === "u", pad: match[5] === "p", threads: match[6] ? threads : undefined });
}

/** A product's work: two flops per multiply-add. */
const gflopOf = (s: MatMulShapes) => (2 * s.batch * s.m * s.n * s.k) / 1e9;

async function main(): Promise<void> {
  // --tiles 128x256x16u,... times those tiles (each K whole, and split as planned) instead of VARIANTS.
  // --kernel-time times each product's kernels with timestamp queries (timeKernels) instead of the wall clock.
  const { values } = parseArgs({ options: { out: { type: "string" }, shapes: { type: "string" }, tiles: { type: "string" }, dawn: { type: "string" }, "exact-ab": { type: "boolean" }, "kernel-time": { type: "boolean" } } });
  const time = values["kernel-time"] ? timeKernels : timeWall;
  const variants = values.tiles ? values.tiles.split(",").map(parseTile) : VARIANTS;
  const backend = await initBackend("webgpu", { dawnFlags: values.dawn?.split(" ") });
  const wanted = values.shapes?.split(",").map(Number);
  if (values["exact-ab"]) return exactAB(backend, wanted, values.out);
  const rows = [];
  for (const [index, [aShape, bShape, ta, tb, what]] of MATMUL_SHAPES.entries()) {
    if (wanted && !wanted.includes(index)) continue;
    const a = tf.randomNormal(aShape);
    const b = tf.randomNormal(bShape);
    const shapes = matmulShapes(aShape, bShape, ta, tb)!;
    const { m, n, k } = shapes;
    const gflop = gflopOf(shapes);
    setKernelOptions({ ourMatMul: false });
    const tfjsMs = await time(() => tf.matMul(a, b, ta, tb));
    setKernelOptions();
    const timings: Record<string, number> = {};
    // The profiler records kernels only: timed by it, the product runs as tf.matMul with the tile forced.
    const withTile = (variant: Tile, split?: number) =>
      values["kernel-time"]
        ? () => {
            setKernelOptions({ forcedTile: variant, forcedSplit: split ?? null });
            return tf.matMul(a, b, ta, tb);
          }
        : () => matMulWithTile(a, b, ta, tb, variant, split);
    for (const [index, variant] of variants.entries()) {
      const split = splitKFor(shapes, variant, ta, tb);
      timings[tileKey(variant) + (split > 1 ? `/split${split}` : "")] = await time(withTile(variant));
      if (split > 1) timings[tileKey(variant)] = await time(withTile(variant, 1));
      else if ((index < SPLIT_VARIANTS || values.tiles) && (shapes.batch === 1 || values.tiles) && Math.min(m, n) >= 32) {
        for (const chunks of SPLITS.filter((c) => c * variant.bk < k)) timings[`${tileKey(variant)}/split${chunks}`] = await time(withTile(variant, chunks));
      }
    }
    setKernelOptions();
    if (takesSkinny(shapes, ta, tb)) timings.skinny = await time(() => tf.matMul(a, b, ta, tb)); // as training routes it
    const best = Object.entries(timings).sort((x, y) => x[1] - y[1])[0];
    console.log(`${what.padEnd(28)} tfjs ${tfjsMs.toFixed(3)} ms (${(gflop / tfjsMs).toFixed(1)} TF/s); best ${best[0]} ${best[1].toFixed(3)} ms (${(gflop / best[1]).toFixed(1)} TF/s)`);
    console.log("   " + Object.entries(timings).map(([key, ms]) => `${key} ${(gflop / ms).toFixed(1)}`).join(" | "));
    rows.push({ what, a: aShape, b: bShape, transposeA: ta, transposeB: tb, gflop, tfjs_ms: tfjsMs, ours_ms: timings });
    tf.dispose([a, b]);
    // After every shape, so a run cut short by its time limit still leaves what it measured.
    if (values.out) fs.writeFileSync(values.out, JSON.stringify({ backend: backend.name, device: backend.device, dawn_flags: backend.dawnFlags ?? null, date: new Date().toISOString(), rows }, null, 2) + "\n");
  }
}

/**
 * Each shape as training routes it, with the bounds-free code for whole tiles and without,
 * alternating three times (the best of each side): what dropping the bounds checks buys.
 */
async function exactAB(backend: { name: string; device: string }, wanted: number[] | undefined, out: string | undefined): Promise<void> {
  const rows = [];
  for (const [index, [aShape, bShape, ta, tb, what]] of MATMUL_SHAPES.entries()) {
    if (wanted && !wanted.includes(index)) continue;
    const a = tf.randomNormal(aShape);
    const b = tf.randomNormal(bShape);
    const gflop = gflopOf(matmulShapes(aShape, bShape, ta, tb)!);
    const best = { exact: Infinity, checked: Infinity };
    for (let round = 0; round < 3; round++) {
      for (const side of ["checked", "exact"] as const) {
        setKernelOptions({ exactTiles: side === "exact" });
        best[side] = Math.min(best[side], await timeWall(() => tf.matMul(a, b, ta, tb)));
      }
    }
    setKernelOptions();
    console.log(`${what.padEnd(28)} exact ${best.exact.toFixed(3)} ms (${(gflop / best.exact).toFixed(1)} TF/s), checked ${best.checked.toFixed(3)} ms (${(gflop / best.checked).toFixed(1)} TF/s)`);
    rows.push({ what, a: aShape, b: bShape, transposeA: ta, transposeB: tb, gflop, exact_ms: best.exact, checked_ms: best.checked });
    tf.dispose([a, b]);
    if (out) fs.writeFileSync(out, JSON.stringify({ what: "whole tiles without bounds checks (exact) against with them (checked), as training routes each shape", backend: backend.name, device: backend.device, date: new Date().toISOString(), rows }, null, 2) + "\n");
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
