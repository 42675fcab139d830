import * as tf from "@tensorflow/tfjs";
import { runWgsl } from "./program";
import { AttentionPlan, kernelOptions } from "./options";
import { FlashAttentionSaved, FlashAttentionShape, LOWEST, dropoutUniforms, each, keepCode, keyTileCode, maxOf, planTile, queryTileCode } from "./flash-attention-common";
import { allGather, reduceScatter } from "./subgroups";

// The attention's fused kernels with a quad of threads to a few rows (lib/webgpu/flash-attention.ts
// says what they compute). A thread of the one-row kernels reads each key of a tile from workgroup
// memory for one query's arithmetic, 4 multiply-adds per vec4 read, and that read, not the
// arithmetic, sets its pace. Here four neighbouring threads, a quad of their subgroup, share R rows:
// thread `lane` holds every row's vec4s lane, lane + 4, lane + 8, ... of the head, so each vec4 it
// reads feeds R rows. A dot product over the head is then four partial sums, one a thread; a
// reduce-scatter through subgroup shuffles (lib/webgpu/subgroups.ts) leaves each thread the full
// sums of some (row, key) pairs, the thread works out their weights (the exp, the dropout factor:
// a quarter of the pairs each), and an all-gather hands every weight to the whole quad for the
// products with v (or q and do). The backward pass computes dk and dv in one kernel, each weight
// recomputed once for both. Threads 4g .. 4g + 3 of a workgroup are taken to form one quad of a
// subgroup, as Vulkan, Metal and Direct3D lay out a one-dimensional workgroup.

/** Threads sharing rows: a quad. */
const LANES = 4;

/** WGSL: a thread's partial dot product of row `a` (vec4s a_0, a_1, ...) with `b(i)`, its vec4 i. */
const partialDot = (vec4s: number, a: string, b: (i: number) => string) => `(${[...Array(vec4s).keys()].map((i) => `dot(${a}${i}, ${b(i)})`).join(" + ")})`;

/** WGSL: each (step u, row r) pair's share of a_r . aTile[u] (ps) and b_r . bTile[u] (pd), u-major, the tiles' rows of this thread's vec4s from `base`. */
const pairPartials = (chunk: number, rows: number, vec4s: number, d4: number, a: string, aTile: string, b: string, bTile: string, base: string) =>
  each(chunk, (u) =>
    each(
      rows,
      (r) => `let ps${u}_${r} = ${partialDot(vec4s, `${a}${r}_`, (i) => `${aTile}[${base} + ${u * d4 + LANES * i}]`)};
            let pd${u}_${r} = ${partialDot(vec4s, `${b}${r}_`, (i) => `${bTile}[${base} + ${u * d4 + LANES * i}]`)};`,
    ),
  );

/** The head's rows: q, k, v ([B*H, T, headDim]) and o, do (merged [B, T, H*headDim]) at row `row`, this thread's vec4 `i`. */
const headAt = (row: string, i: number) => `(bh * T + ${row}) * D4 + lane + ${LANES * i}`;
const mergedAt = (row: string, i: number) => `((b * T + ${row}) * uniforms.heads + h) * D4 + lane + ${LANES * i}`;

/** WGSL opening every kernel: the head, this thread's lane and the first of its quad's `rows` rows. */
const groupCode = (rows: number, threads: number) => `
        let T = uniforms.tokens;
        let bh = i32(workgroupId.y);
        let b = bh / uniforms.heads;
        let h = bh % uniforms.heads;
        let lane = i32(localIndex) % ${LANES};
        let first = i32(workgroupId.x) * ${(threads / LANES) * rows} + (i32(localIndex) / ${LANES}) * ${rows};
        ${each(rows, (r) => `let row${r} = min(first + ${r}, T - 1); // rows past the last work on it too, and write nothing`)}`;

/**
 * Forward: o (merged) followed by L ([B*H, T]) in one buffer of floats. A quad holds `rows` queries
 * and takes `chunk` keys a step; the reduce-scatter leaves each query's scores with the 4 / rows
 * threads of the quad that keep its running maximum m and (each its part of) the sum l: thread
 * `lane` query lane / (4 / rows), a run of `chunk` / (4 / rows) of the chunk's keys. Where a query
 * has several threads, they agree on m through a shuffle. Each thread gathers its weights and the
 * rescale factor to the quad.
 */
export function forwardQuads(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
  const plan = kernelOptions().attentionPlans.forward;
  const { rows, chunk, threads } = plan;
  const d4 = s.headDim / 4;
  const vec4s = d4 / LANES;
  const group = LANES / rows; // threads sharing a query's softmax
  const owned = chunk / group; // keys of a chunk each of them works out
  const tile = planTile(plan, 2 * s.headDim * 4);
  const dropout = rate > 0;
  const merged = s.batch * s.tokens * s.heads * s.headDim;
  const scores = reduceScatter("sc", each(rows, (r) => each(chunk, (u) => `ps${r}_${u}`, ","), ",").split(","), LANES);
  const gathered = allGather("wg", [...each(owned, (e) => `w${e}`, ",").split(","), "alpha"], LANES);
  const weight = (r: number, u: number) => gathered.all[(r * group + Math.floor(u / owned)) * (owned + 1) + (u % owned)];
  const rescale = (r: number) => gathered.all[r * group * (owned + 1) + owned];
  const sums = allGather("lg", ["lRow"], LANES);
  // A value's largest (or sum) over the threads sharing a query: shuffles across the low bits of the lane.
  const acrossGroup = (name: string, value: string, op: "max" | "+") =>
    [...Array(Math.log2(group)).keys()].reduce((code, i) => `${code} let ${name}${i + 1} = ${op === "max" ? `max(${name}${i}, subgroupShuffleXor(${name}${i}, ${1 << i}u))` : `${name}${i} + subgroupShuffleXor(${name}${i}, ${1 << i}u)`};`, `let ${name}0 = ${value};`);
  const across = (name: string) => `${name}${Math.log2(group)}`;
  const code = () => `
  enable subgroups;
  const D4 = ${d4};
  var<workgroup> kTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> vTile : array<vec4<f32>, ${tile * d4}>;
  ${keepCode(dropout)}
  fn main() {
        ${groupCode(rows, threads)}
        ${each(rows, (r) => each(vec4s, (i) => `let q${r}_${i} = q[${headAt(`row${r}`, i)}];`, " "))}
        ${each(rows, (r) => each(vec4s, (i) => `var o${r}_${i} = vec4<f32>(0.0);`, " "))}
        var m = ${LOWEST};
        var l = 0.0;
        let mine = first + lane / ${group}; // this thread's query
        let dropBase = u32(bh * T + min(mine, T - 1)) * u32(T);
        let firstKey = ${group > 1 ? `(lane % ${group}) * ${owned}` : "0"}; // its keys' place in a chunk
        for (var t0 = 0; t0 < T; t0 = t0 + ${tile}) {
          ${keyTileCode(tile, d4, threads)}
          for (var c = 0; c < ${tile}; c = c + ${chunk}) {
            let j0 = t0 + c;
            let kb = c * D4 + lane;
            ${each(rows, (r) => each(chunk, (u) => `let ps${r}_${u} = ${partialDot(vec4s, `q${r}_`, (i) => `kTile[kb + ${u * d4 + LANES * i}]`)};`))}
            ${scores.code.split("\n").join("\n            ")}
            ${each(owned, (e) => `let key${e} = j0 + firstKey + ${e};
            let s${e} = select(${LOWEST}, ${scores.owned[e]} - (1.0 - f32(mask[b * T + min(key${e}, T - 1)])) * 1e9, key${e} < T);`)}
            ${acrossGroup("top", maxOf(each(owned, (e) => `s${e}`, ",").split(",")), "max")}
            let mNew = max(m, ${across("top")});
            let alpha = exp(m - mNew);
            m = mNew;
            ${each(owned, (e) => `let p${e} = exp(s${e} - mNew);`)}
            l = l * alpha + ${each(owned, (e) => `p${e}`, " + ")};
            ${each(owned, (e) => `let w${e} = p${e} * keep(dropBase + u32(key${e}));`)}
            ${gathered.code.split("\n").join("\n            ")}
            ${each(rows, (r) => each(vec4s, (i) => `o${r}_${i} = o${r}_${i} * ${rescale(r)} + ${each(chunk, (u) => `${weight(r, u)} * vTile[kb + ${u * d4 + LANES * i}]`, " + ")};`))}
          }
        }
        ${acrossGroup("total", "l", "+")}
        let lRow = ${across("total")};
        ${sums.code}
        ${each(
          rows,
          (r) => `if (first + ${r} < T) {
          let inverse${r} = 1.0 / ${sums.all[r * group]};
          ${each(vec4s, (i) => `let out${r}_${i} = o${r}_${i} * inverse${r}; let at${r}_${i} = (${mergedAt(`row${r}`, i)}) * 4;
          result[at${r}_${i}] = out${r}_${i}.x; result[at${r}_${i} + 1] = out${r}_${i}.y; result[at${r}_${i} + 2] = out${r}_${i}.z; result[at${r}_${i} + 3] = out${r}_${i}.w;`)}
        }`,
        )}
        if (lane % ${group} == 0 && mine < T) {
          result[uniforms.lseOffset + bh * T + mine] = m + log(lRow);
        }
  }`;
  return runWgsl({
    key: `flash-attention-quads-fwd-${s.headDim}-${planKey(plan)}-${tile}-${dropout}`,
    inputs: { q, k, v, mask },
    vec4Inputs: ["q", "k", "v"],
    outputShape: [merged + s.batch * s.heads * s.tokens],
    workgroupSize: [threads, 1, 1],
    dispatch: [Math.ceil(s.tokens / ((threads / LANES) * rows)), s.batch * s.heads, 1],
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, { name: "lseOffset", type: "i32", value: merged }, ...(dropout ? dropoutUniforms(rate, seed) : [])],
    code,
  });
}

/** A plan as a short key: "r4c4t64w64" (rows, chunk, threads, tile). */
export const planKey = (p: AttentionPlan) => `r${p.rows}c${p.chunk}t${p.threads}w${p.tile}`;

/**
 * The (key u, row r) pairs of a chunk, u-major, that thread `lane` works out after the
 * reduce-scatter: `perLane` of them, as WGSL constants' names and the row and key each is at.
 */
function ownedPairs(rows: number, chunk: number): { perLane: number; row: (e: number) => string; step: (e: number) => string } {
  const perLane = (rows * chunk) / LANES;
  return { perLane, row: (e) => `((lane * ${perLane} + ${e}) % ${rows})`, step: (e) => `((lane * ${perLane} + ${e}) / ${rows})` };
}

/**
 * dq [B*H, T, headDim]: a quad holds 2 queries' q, do and dq (registers for 6 rows' shares); a chunk:
 * 2 keys, whose scores and do . v the reduce-scatter leaves one pair a thread.
 */
export function queryGradientQuads(inputs: FlashAttentionSaved, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
  const plan = kernelOptions().attentionPlans.queryGradient;
  const { rows, chunk, threads } = plan;
  const d4 = s.headDim / 4;
  const vec4s = d4 / LANES;
  const tile = planTile(plan, 2 * s.headDim * 4);
  const dropout = rate > 0;
  const pairs = ownedPairs(rows, chunk);
  // Each pair's score and do . v, u-major, both values of a pair side by side.
  const partials = reduceScatter("sd", each(chunk, (u) => each(rows, (r) => `ps${u}_${r},pd${u}_${r}`, ","), ",").split(","), LANES);
  const gathered = allGather("dg", each(pairs.perLane, (e) => `ds${e}`, ",").split(","), LANES);
  const code = () => `
  enable subgroups;
  const D4 = ${d4};
  var<workgroup> kTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> vTile : array<vec4<f32>, ${tile * d4}>;
  ${keepCode(dropout)}
  fn main() {
        ${groupCode(rows, threads)}
        ${each(rows, (r) => each(vec4s, (i) => `let q${r}_${i} = q[${headAt(`row${r}`, i)}]; let do${r}_${i} = dy[${mergedAt(`row${r}`, i)}];`, " "))}
        ${each(rows, (r) => each(vec4s, (i) => `var dq${r}_${i} = vec4<f32>(0.0);`, " "))}
        ${each(pairs.perLane, (e) => `let pairRow${e} = bh * T + min(first + ${pairs.row(e)}, T - 1);
        let lse${e} = lse[pairRow${e}];
        let delta${e} = delta[pairRow${e}];`)}
        for (var t0 = 0; t0 < T; t0 = t0 + ${tile}) {
          ${keyTileCode(tile, d4, threads)}
          for (var c = 0; c < ${tile}; c = c + ${chunk}) {
            let j0 = t0 + c;
            let kb = c * D4 + lane;
            ${pairPartials(chunk, rows, vec4s, d4, "q", "kTile", "do", "vTile", "kb")}
            ${partials.code.split("\n").join("\n            ")}
            ${each(
              pairs.perLane,
              (e) => `let key${e} = j0 + ${pairs.step(e)};
            let score${e} = ${partials.owned[2 * e]} - (1.0 - f32(mask[b * T + min(key${e}, T - 1)])) * 1e9;
            let p${e} = select(0.0, exp(score${e} - lse${e}), key${e} < T);
            let ds${e} = p${e} * (${partials.owned[2 * e + 1]} * keep(u32(pairRow${e}) * u32(T) + u32(key${e})) - delta${e});`,
            )}
            ${gathered.code.split("\n").join("\n            ")}
            ${each(rows, (r) => each(vec4s, (i) => `dq${r}_${i} = dq${r}_${i} + ${each(chunk, (u) => `${gathered.all[u * rows + r]} * kTile[kb + ${u * d4 + LANES * i}]`, " + ")};`))}
          }
        }
        ${each(rows, (r) => `if (first + ${r} < T) { ${each(vec4s, (i) => `result[${headAt(`row${r}`, i)}] = dq${r}_${i};`, " ")} }`)}
  }`;
  return runWgsl({
    key: `flash-attention-quads-dq-${s.headDim}-${planKey(plan)}-${tile}-${dropout}`,
    inputs,
    vec4Inputs: ["q", "k", "v", "dy"],
    vec4Output: true,
    outputShape: inputs.q.shape,
    workgroupSize: [threads, 1, 1],
    dispatch: [Math.ceil(s.tokens / ((threads / LANES) * rows)), s.batch * s.heads, 1],
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, ...(dropout ? dropoutUniforms(rate, seed) : [])],
    code,
  });
}

/**
 * dk and dv, [2, B*H, T, headDim] (dk first): a quad holds 2 keys' k, v, dk and dv; the queries'
 * q, do, L and delta stream through workgroup memory; a chunk: 2 queries, whose (query, key) pairs'
 * score and do . v the reduce-scatter leaves one pair a thread. Each pair's weight w and ds go to
 * the quad for dv += w do and dk += ds q.
 */
export function keyGradientsQuads(inputs: FlashAttentionSaved, s: FlashAttentionShape, rate: number, seed: number): tf.Tensor {
  const plan = kernelOptions().attentionPlans.keyGradients;
  const { rows, chunk, threads } = plan;
  const d4 = s.headDim / 4;
  const vec4s = d4 / LANES;
  const tile = planTile(plan, 2 * s.headDim * 4 + 8); // a query's q and do rows, its L and delta
  const dropout = rate > 0;
  const pairs = ownedPairs(rows, chunk);
  const partials = reduceScatter("sd", each(chunk, (u) => each(rows, (r) => `ps${u}_${r},pd${u}_${r}`, ","), ",").split(","), LANES);
  const gathered = allGather("wg", each(pairs.perLane, (e) => `w${e},ds${e}`, ",").split(","), LANES);
  const weight = (u: number, r: number) => gathered.all[2 * (u * rows + r)];
  const scoreGradient = (u: number, r: number) => gathered.all[2 * (u * rows + r) + 1];
  const code = () => `
  enable subgroups;
  const D4 = ${d4};
  var<workgroup> qTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> doTile : array<vec4<f32>, ${tile * d4}>;
  var<workgroup> lseTile : array<f32, ${tile}>;
  var<workgroup> deltaTile : array<f32, ${tile}>;
  ${keepCode(dropout)}
  fn main() {
        ${groupCode(rows, threads)}
        ${each(rows, (r) => each(vec4s, (i) => `let k${r}_${i} = k[${headAt(`row${r}`, i)}]; let v${r}_${i} = v[${headAt(`row${r}`, i)}];`, " "))}
        ${each(rows, (r) => each(vec4s, (i) => `var dk${r}_${i} = vec4<f32>(0.0); var dv${r}_${i} = vec4<f32>(0.0);`, " "))}
        ${each(pairs.perLane, (e) => `let pairKey${e} = min(first + ${pairs.row(e)}, T - 1);
        let maskTerm${e} = (1.0 - f32(mask[b * T + pairKey${e}])) * 1e9;`)}
        for (var t0 = 0; t0 < T; t0 = t0 + ${tile}) {
          ${queryTileCode(tile, d4, threads, true)}
          for (var c = 0; c < ${tile}; c = c + ${chunk}) {
            let i0 = t0 + c;
            let qb = c * D4 + lane;
            ${pairPartials(chunk, rows, vec4s, d4, "k", "qTile", "v", "doTile", "qb")}
            ${partials.code.split("\n").join("\n            ")}
            ${each(
              pairs.perLane,
              (e) => `let step${e} = c + ${pairs.step(e)};
            let query${e} = t0 + step${e};
            let p${e} = select(0.0, exp(${partials.owned[2 * e]} - maskTerm${e} - lseTile[step${e}]), query${e} < T);
            let factor${e} = keep(u32(bh * T + min(query${e}, T - 1)) * u32(T) + u32(pairKey${e}));
            let w${e} = p${e} * factor${e};
            let ds${e} = p${e} * (${partials.owned[2 * e + 1]} * factor${e} - deltaTile[step${e}]);`,
            )}
            ${gathered.code.split("\n").join("\n            ")}
            ${each(rows, (r) => each(vec4s, (i) => `dv${r}_${i} = dv${r}_${i} + ${each(chunk, (u) => `${weight(u, r)} * doTile[qb + ${u * d4 + LANES * i}]`, " + ")};
            dk${r}_${i} = dk${r}_${i} + ${each(chunk, (u) => `${scoreGradient(u, r)} * qTile[qb + ${u * d4 + LANES * i}]`, " + ")};`))}
          }
        }
        ${each(rows, (r) => `if (first + ${r} < T) { ${each(vec4s, (i) => `result[${headAt(`row${r}`, i)}] = dk${r}_${i}; result[uniforms.dvOffset + ${headAt(`row${r}`, i)}] = dv${r}_${i};`, " ")} }`)}
  }`;
  const size = s.batch * s.heads * s.tokens * d4;
  return runWgsl({
    key: `flash-attention-quads-dkdv-${s.headDim}-${planKey(plan)}-${tile}-${dropout}`,
    inputs,
    vec4Inputs: ["q", "k", "v", "dy"],
    vec4Output: true,
    outputShape: [2, ...inputs.k.shape],
    workgroupSize: [threads, 1, 1],
    dispatch: [Math.ceil(s.tokens / ((threads / LANES) * rows)), s.batch * s.heads, 1],
    uniforms: [{ name: "tokens", type: "i32", value: s.tokens }, { name: "heads", type: "i32", value: s.heads }, { name: "dvOffset", type: "i32", value: size }, ...(dropout ? dropoutUniforms(rate, seed) : [])],
    code,
  });
}
