// How the WebGPU kernels run: one typed object, given to initBackend (`{ kernels: {...} }`) and read
// by the kernels as they dispatch. The defaults are the fastest variants measured; every other value
// brings back a variant that a later kernel replaced, so that a benchmark can time the two in one run
// (bench/modes.ts) and a test can reach every code path.

/** A matmul tile of ours: bm x bn outputs per workgroup, K in steps of bk. */
export interface Tile {
  bm: number;
  bn: number;
  bk: number;
  /** The workgroup's threads as rows x columns (16 x 16 unless given). */
  threads?: [number, number];
  /** Write the inner K loop out in full (the loop index becomes constants). */
  unroll?: boolean;
  /** Stage K-contiguous operands two threads per row sector into padded tile rows, so a warp's stores hit 32 different banks. */
  pad?: boolean;
}

/** How the LoRA factors' gradient kernel splits its work (bench/skinny-sweep.ts times the choices). */
export interface GradientPlan {
  /** vec4 columns of the wide operand per workgroup; 256 / columns lanes of threads share a chunk's tokens. */
  columns: number;
  /** About how many workgroups to spread the tokens over (the H200 has 132 SMs). */
  workgroups: number;
  /** Read the narrow operand's row as vec4s (r = 8: two loads a token) where r divides by 4. */
  vec4Narrow: boolean;
}

/** How a pass of the sum over every axis but the last splits the work: vec4 columns per workgroup, lanes of threads down the rows, rows per lane. */
export interface ColumnSumPlan {
  columns: number;
  lanes: number;
  rowsPerLane: number;
}

/** How a quad kernel of the fused attention splits its work (lib/webgpu/flash-attention-quads.ts; bench/attention-plans.ts times the choices). */
export interface AttentionPlan {
  /** Rows a quad of threads holds: queries (forward, dq) or keys (dk and dv). */
  rows: number;
  /** Keys (forward, dq) or queries (dk and dv) a step of the inner loop takes. */
  chunk: number;
  /** Threads a workgroup (a multiple of 4). */
  threads: number;
  /** The most rows a tile of workgroup memory holds; fewer where 16 KiB does not hold them, and a multiple of the chunk. */
  tile: number;
}

/** The plans of the fused attention's three quad kernels. */
export interface AttentionPlans {
  forward: AttentionPlan;
  queryGradient: AttentionPlan;
  keyGradients: AttentionPlan;
}

export interface KernelOptions {
  /** The model's modules run fused implementations (lib/webgpu/inject.ts); false runs their plain forward on tfjs's and our single-op kernels. */
  fusedModules: boolean;
  /** Our matmul kernel where it takes the shape; false leaves every matmul to tfjs. */
  ourMatMul: boolean;
  /** Force one tile (and one K split) on every matmul of ours: tests reach every variant this way. */
  forcedTile: Tile | null;
  forcedSplit: number | null;
  /** Bounds-free code where the tiles cover the product exactly. */
  exactTiles: boolean;
  /** Tiles of 128 threads (8 x 8 outputs each); false runs the 256-thread tiles they replaced. */
  threadGridTiles: boolean;
  /** x @ A, the LoRA factors' gradients and the short-K h @ B on the skinny kernels; false: x @ A on tfjs's kernel, the rest on our tiles. */
  skinnyFactorKernels: boolean;
  gradientPlan: GradientPlan;
  /** Our sum over every axis but the last (bias and LayerNorm gradients); false leaves it to tfjs. */
  ourColumnSum: boolean;
  columnSumPlan: ColumnSumPlan;
  /** The attention's masked softmax and dropout as one kernel each way; false runs two. */
  fusedSoftmaxDropout: boolean;
  /** The whole attention, softmax(q k^T + mask) v with dropout, as one kernel forward and three or four backward, its T x T weights never stored (lib/webgpu/flash-attention.ts); false runs the products and the softmax as kernels of their own. */
  flashAttention: boolean;
  /** The attention's kernels with four threads sharing a few rows through subgroup shuffles, where the device has subgroups and the head width divides by 16 (lib/webgpu/flash-attention-quads.ts); false: one row a thread everywhere. */
  flashAttentionQuads: boolean;
  attentionPlans: AttentionPlans;
  /** LoRA's updates inside the adapted Linear's product: the attention's q, k, v op, and any other LinearWithLoRA (lib/webgpu/lora-linear.ts); false runs them as ops of their own. */
  loraInsideProjections: boolean;
  /** Adam's update in place, one dispatch per parameter; false runs three kernels that write new tensors. */
  adamInPlace: boolean;
  /** Uniform buffers written once and bound again while their contents recur; false writes them every dispatch, as tfjs does. */
  uniformCache: boolean;
  /** Bind groups made once and reused while their buffers recur; false makes one per dispatch, as tfjs does. */
  bindGroupCache: boolean;
  /** Tensors kept for the backward pass without tfjs's Identity kernel and tape node. */
  directSaves: boolean;
  /** Each op's output gradients and saved tensors freed as soon as the backward pass is past it (lib/webgpu/release-in-backward.ts); false keeps them to the pass's end, as tfjs does. */
  releaseInBackward: boolean;
}

// Timed on the H200 (results/benchmark): 16 columns by 16 lanes, 8 rows a lane, for the column sum;
// 16 columns over about 512 workgroups, vec4 reads of the narrow operand, for the factors' gradients.
export const DEFAULT_GRADIENT_PLAN: GradientPlan = { columns: 16, workgroups: 512, vec4Narrow: true };
export const DEFAULT_COLUMN_SUM_PLAN: ColumnSumPlan = { columns: 16, lanes: 16, rowsPerLane: 8 };

export const DEFAULT_ATTENTION_PLANS: AttentionPlans = {
  forward: { rows: 4, chunk: 4, threads: 64, tile: 64 },
  queryGradient: { rows: 2, chunk: 2, threads: 128, tile: 64 },
  keyGradients: { rows: 2, chunk: 2, threads: 128, tile: 16 },
};

export const DEFAULT_KERNEL_OPTIONS: Readonly<KernelOptions> = Object.freeze({
  fusedModules: true,
  ourMatMul: true,
  forcedTile: null,
  forcedSplit: null,
  exactTiles: true,
  threadGridTiles: true,
  skinnyFactorKernels: true,
  gradientPlan: DEFAULT_GRADIENT_PLAN,
  ourColumnSum: true,
  columnSumPlan: DEFAULT_COLUMN_SUM_PLAN,
  fusedSoftmaxDropout: true,
  flashAttention: true,
  flashAttentionQuads: true,
  attentionPlans: DEFAULT_ATTENTION_PLANS,
  loraInsideProjections: true,
  adamInPlace: true,
  uniformCache: true,
  bindGroupCache: true,
  directSaves: true,
  releaseInBackward: true,
});

const THREADS = 256; // a workgroup of the factor-gradient and column-sum kernels

let current: Readonly<KernelOptions> = DEFAULT_KERNEL_OPTIONS;

/** The options the kernels run with now. */
export function kernelOptions(): Readonly<KernelOptions> {
  return current;
}

/**
 * Set the kernels' options: the defaults with `changes` over them (initBackend does this; tests and
 * benchmarks may call it between steps). Plans are checked here, with the bad value named.
 */
export function setKernelOptions(changes: Partial<KernelOptions> = {}): Readonly<KernelOptions> {
  const unknown = Object.keys(changes).filter((key) => !(key in DEFAULT_KERNEL_OPTIONS));
  if (unknown.length > 0) throw new Error(`kernel options: unknown ${unknown.map((k) => `"${k}"`).join(", ")} (known: ${Object.keys(DEFAULT_KERNEL_OPTIONS).join(", ")})`);
  const next = { ...DEFAULT_KERNEL_OPTIONS, ...changes };
  const g = next.gradientPlan;
  if (!Number.isInteger(g.columns) || g.columns < 1 || THREADS % g.columns !== 0) {
    throw new Error(`kernel options: gradientPlan.columns ${g.columns} must divide the workgroup's ${THREADS} threads (1, 2, 4, ..., 256)`);
  }
  if (!Number.isInteger(g.workgroups) || g.workgroups < 1) throw new Error(`kernel options: gradientPlan.workgroups ${g.workgroups} must be a positive integer`);
  const c = next.columnSumPlan;
  if (c.columns * c.lanes > THREADS || [c.columns, c.lanes, c.rowsPerLane].some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`kernel options: columnSumPlan ${JSON.stringify(c)}: columns x lanes must be at most ${THREADS} threads, each a whole number >= 1`);
  }
  for (const [kernel, plan] of Object.entries(next.attentionPlans) as [keyof AttentionPlans, AttentionPlan][]) checkAttentionPlan(kernel, plan);
  if (next.forcedSplit !== null && !(Number.isInteger(next.forcedSplit) && next.forcedSplit >= 1)) {
    throw new Error(`kernel options: forcedSplit ${next.forcedSplit} must be a whole number >= 1 or null`);
  }
  current = Object.freeze(next);
  return current;
}

/** A quad kernel's plan: whole numbers; a chunk's (row, key) pairs split evenly over the quad; the forward's rows share its 4 threads evenly. */
function checkAttentionPlan(kernel: keyof AttentionPlans, p: AttentionPlan): void {
  const bad = (why: string) => new Error(`kernel options: attentionPlans.${kernel} ${JSON.stringify(p)}: ${why}`);
  if ([p.rows, p.chunk, p.threads, p.tile].some((v) => !Number.isInteger(v) || v < 1)) throw bad("rows, chunk, threads and tile must be whole numbers >= 1");
  if (p.threads % 4 !== 0 || p.threads > 256) throw bad("threads must be a multiple of 4, at most 256");
  if (p.tile < p.chunk) throw bad("the tile must hold at least one chunk");
  if (kernel === "forward" ? ![1, 2, 4].includes(p.rows) || p.chunk % (4 / p.rows) !== 0 : (p.rows * p.chunk) % 4 !== 0) {
    throw bad(kernel === "forward" ? "rows must be 1, 2 or 4, and the chunk a multiple of 4 / rows" : "rows x chunk must be a multiple of 4 (pairs split over a quad)");
  }
}
