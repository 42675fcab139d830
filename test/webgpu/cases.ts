import * as tf from "@tensorflow/tfjs";
import { layerNorm, gelu, maskedSoftmax, maskedSoftmaxDropout, linear, linearOfGelu } from "../../lib/webgpu/functional";
import { Dropout, Linear } from "../../lib/nn/layers";
import { manualSeed } from "../../lib/nn/random";
import { values } from "../helpers/values";
import { TILES, Tile, tileKey, matMulPlusLowRankWebGpu } from "../../lib/webgpu/matmul";
import { Adam } from "../../lib/train/adam";
import { dropout } from "../../lib/nn/dropout";
import { DistilBertSelfAttention, TransformerBlock, distilBertConfig } from "../../lib/models/distilbert";
import { clearProjectionCache } from "../../lib/webgpu/attention";
import { LinearWithLoRA } from "../../lib/lora/lora";
import { loraLinearTakes } from "../../lib/webgpu/lora-linear";
import { flashAttentionQuads } from "../../lib/webgpu/flash-attention";
import { copyRange } from "../../lib/webgpu/elementwise";
import { hasSubgroups } from "../../lib/webgpu/subgroups";
import type { AttentionPlans, KernelOptions } from "../../lib/webgpu/options";
import { planKey } from "../../lib/webgpu/flash-attention-quads";

// Each case computes some outputs (forward values, gradients) from fixed inputs; run-cases.ts runs
// it on tfjs's cpu backend and on webgpu and reports the largest difference of each output.

export interface KernelCase {
  name: string;
  /** Every matmul of the case on webgpu uses this tile of ours (else ours or tfjs's, as in training). */
  tile?: Tile;
  /** ... and K in this many chunks, summed by a second kernel. */
  split?: number;
  /** Output names, in the order `run` returns them. */
  outputs: string[];
  run: () => tf.Tensor[];
  /** Kernel options of the webgpu run besides the tile (lib/webgpu/options.ts): a variant that a default replaced. */
  kernels?: Partial<KernelOptions>;
  /** A matmul whose M, N and K all divide by 4: every operand, in every layout of its gradients, is read as vec4s. */
  allVec4?: boolean;
}

/** Bytes of the tensors the gradient tape keeps for the backward pass, each buffer once, but those of `besides`. */
function savedBytesBesides(besides: tf.Tensor[]): number {
  const tape = (tf.engine() as unknown as { state: { activeTape: { saved?: tf.Tensor[] }[] } }).state.activeTape;
  const skip = new Set<object>(besides.map((t) => t.dataId));
  const saved = new Map<object, number>();
  for (const t of tape.flatMap((node) => node.saved ?? [])) if (!skip.has(t.dataId)) saved.set(t.dataId, t.size * 4);
  return [...saved.values()].reduce((a, b) => a + b, 0);
}

/** Forward value and the gradient of sum(f(inputs) * dy) for each input. */
function withGradients(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const y = f(...inputs);
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), dy)))(inputs);
  return [y, ...grads];
}

const layerNormCase = (name: string, shape: number[], offset: number, withResidual = false): KernelCase => {
  const cols = shape[shape.length - 1];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = () => tf.tensor(values(n, 1, 3, offset), shape);
  const weightAndBias = () => [tf.tensor(values(cols, 2, 1, 1)), tf.tensor(values(cols, 3))];
  const dy = () => tf.tensor(values(n, 4), shape);
  return {
    name,
    outputs: withResidual ? ["y", "dx", "dresidual", "dweight", "dbias"] : ["y", "dx", "dweight", "dbias"],
    run: () =>
      withResidual
        ? withGradients((x, r, w, b) => layerNorm(x, w, b, 1e-12, r), [x(), tf.tensor(values(n, 32, 2), shape), ...weightAndBias()], dy())
        : withGradients((x, w, b) => layerNorm(x, w, b, 1e-12), [x(), ...weightAndBias()], dy()),
  };
};

const matMulCase = (aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean, gradients = true, tile: Tile | null = null, split?: number): KernelCase => {
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const out = tf.tidy(() => tf.matMul(tf.zeros(aShape), tf.zeros(bShape), transposeA, transposeB).shape);
  return {
    name: `matMul [${aShape}]${transposeA ? "^T" : ""} x [${bShape}]${transposeB ? "^T" : ""}${tile ? ` (${tileKey(tile)} tile${split ? `, K in ${split}` : ""})` : ""}`,
    tile: tile ?? undefined,
    split,
    allVec4: [...aShape.slice(-2), ...bShape.slice(-2)].every((d) => d % 4 === 0),
    outputs: gradients ? ["y", "da", "db"] : ["y"],
    run: () =>
      (gradients ? withGradients : (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]) => [f(...xs)])((a, b) => tf.matMul(a, b, transposeA, transposeB), [tf.tensor(values(size(aShape), 5), aShape), tf.tensor(values(size(bShape), 6), bShape)], tf.tensor(values(size(out), 7), out)),
  };
};

// small8x8 only where every load is a vec4, as the plan uses it: with floats read one by one, each of
// its 64 threads stages 16 of them per operand a K step, and SwiftShader took 8 minutes to compile one
// such variant (they pass on the H200: results/benchmark/webgpu-kernels-gpu.json).
// Plans of the attention's quad kernels other than the defaults. At a head width of 64 the tiles of
// 64-row plans hold 32 rows (28 and 24 for dk and dv, which also hold each query's L and delta).
const OTHER_PLANS: AttentionPlans[] = [
  { forward: { rows: 2, chunk: 8, threads: 128, tile: 64 }, queryGradient: { rows: 1, chunk: 4, threads: 64, tile: 64 }, keyGradients: { rows: 2, chunk: 4, threads: 64, tile: 64 } },
  { forward: { rows: 1, chunk: 4, threads: 256, tile: 24 }, queryGradient: { rows: 4, chunk: 2, threads: 32, tile: 12 }, keyGradients: { rows: 1, chunk: 8, threads: 256, tile: 64 } },
];
const planKeys = (p: AttentionPlans) => [p.forward, p.queryGradient, p.keyGradients].map(planKey).join("/");

const tileCases = Object.values(TILES).flatMap((tile) => tileCasesOf(tile).filter((c) => tile !== TILES.small8x8 || c.allVec4));

function tileCasesOf(tile: Tile): KernelCase[] {
  return [
  // Sizes that are not multiples of the tiles, every transpose, batches with and without broadcast.
  matMulCase([130, 70], [70, 200], false, false, true, tile),
  matMulCase([70, 130], [70, 200], true, false, true, tile),
  matMulCase([130, 70], [200, 70], false, true, true, tile),
  matMulCase([70, 130], [200, 70], true, true, true, tile),
  matMulCase([3, 100, 40], [3, 90, 40], false, true, true, tile),
  matMulCase([300, 257], [257, 520], false, false, true, tile),
  // K a multiple of 4 but not of the tile's K step: vec4 staging of K-contiguous operands.
  matMulCase([130, 72], [200, 72], false, true, true, tile),
  // A weight's gradient: long K, small output (wide tiles split K in 8 chunks and sum them).
  matMulCase([1024, 70], [1024, 40], true, false, true, tile),
  // K split in uneven chunks (the last one short), in every layout and in a batch.
  matMulCase([130, 200], [200, 90], false, false, true, tile, 3),
  matMulCase([130, 72], [200, 72], false, true, true, tile, 3),
  matMulCase([3, 100, 40], [3, 90, 40], false, true, true, tile, 2),
  // Whole tiles (the bounds-free code), in every layout, with K split, and in a batch.
  matMulCase([256, 96], [96, 128], false, false, true, tile),
  matMulCase([64, 256], [64, 128], true, false, true, tile),
  matMulCase([256, 128], [128, 128], false, true, true, tile, 2),
  matMulCase([2, 128, 64], [2, 128, 64], false, true, true, tile),
  // Bounds checked but every load a vec4 (M, N, K divide by 4, not by the tiles), K in 3 chunks.
  matMulCase([132, 72], [200, 72], false, true, true, tile, 3),
  ];
}

export const CASES: KernelCase[] = [
  ...tileCases,
  // As training picks: ours or tfjs's by shape.
  matMulCase([3, 100, 40], [3, 40, 90], false, false),
  matMulCase([64, 130, 40], [64, 130, 40], false, true),
  matMulCase([64, 40, 130], [64, 40, 130], true, false),
  // A weight's gradient over a long K of tokens (ours, K split in 16) and over a short one (tfjs's).
  matMulCase([2048, 128], [2048, 64], true, false),
  matMulCase([12, 96], [12, 64], true, false),
  // LoRA's four products with r = 8 (lib/webgpu/skinny.ts), at a row count that is not a multiple of 8.
  matMulCase([203, 96], [96, 8], false, false),
  matMulCase([203, 96], [8, 96], false, true),
  matMulCase([203, 8], [8, 96], false, false),
  matMulCase([203, 8], [96, 8], false, true),
  matMulCase([203, 5], [5, 64], false, false),
  matMulCase([203, 96], [96, 6], false, false),
  matMulCase([203, 6], [64, 6], false, true),
  // x @ A with r = 16, and the factors' gradients over a K of 1,000 tokens in chunks, with a wide
  // side of 264 (66 vec4 columns: a second workgroup column of 2) and 12 (lib/webgpu/skinny.ts).
  matMulCase([203, 100], [100, 16], false, false),
  matMulCase([1000, 264], [1000, 8], true, false),
  matMulCase([1000, 12], [1000, 264], true, false),
  matMulCase([1000, 264], [1000, 6], true, false), // r = 6: the narrow side read as floats, not vec4s
  // Forward only: tfjs's gradient of a broadcast matmul does not sum over the batch (on any backend).
  matMulCase([2, 3, 64, 33], [33, 96], false, false, false),
  {
    // x @ W^T + b with the bias inside our matmul kernel on WebGPU.
    name: "linear [2,50,70] -> 90",
    outputs: ["y", "dx", "dweight", "dbias"],
    run: () =>
      withGradients((x, w, b) => linear(x, w, b), [tf.tensor(values(7000, 14), [2, 50, 70]), tf.tensor(values(6300, 15), [90, 70]), tf.tensor(values(90, 16))], tf.tensor(values(9000, 17), [2, 50, 90])),
  },
  {
    // The bias added by the kernel that sums the chunks of K (vec4 rows: 92 outputs).
    name: "linear [2,50,72] -> 92, K in 3",
    tile: TILES.large,
    split: 3,
    outputs: ["y", "dx", "dweight", "dbias"],
    run: () =>
      withGradients((x, w, b) => linear(x, w, b), [tf.tensor(values(7200, 14), [2, 50, 72]), tf.tensor(values(6624, 15), [92, 72]), tf.tensor(values(92, 16))], tf.tensor(values(9200, 17), [2, 50, 92])),
  },
  // a @ b + left @ right with the low-rank term added as the product writes its output (LoRA's dx
  // inside the attention projections): vec4 and float widths, and K in 3 chunks, where the chunks'
  // sum adds it. On the cpu backend, the two products and the add.
  ...([
    [96, null, null],
    [90, null, null],
    [96, TILES.large, 3],
  ] as [number, Tile | null, number | null][]).map(([n, tile, split]): KernelCase => ({
    name: `matMul [130,72] x [72,${n}] + [130,12] x [12,${n}]${tile ? ` (${tileKey(tile)} tile, K in ${split})` : ""}`,
    tile: tile ?? undefined,
    split: split ?? undefined,
    outputs: ["y"],
    run: () => {
      const [a, b, left, right] = [[130, 72], [72, n], [130, 12], [12, n]].map((shape, i) => tf.tensor(values(shape[0] * shape[1], 35 + i), shape));
      return [tf.getBackend() === "webgpu" ? matMulPlusLowRankWebGpu(a, b, left, right) : tf.add(tf.matMul(a, b), tf.matMul(left, right))];
    },
  })),
  // GELU into a Linear (the FFN): on WebGPU GELU's derivative is applied as dy @ weight writes its
  // output, as the chunks of K are summed when K is split, and over floats where the width is not
  // of vec4s; a frozen weight (a variable, trainable = false) keeps neither GELU's output nor a gradient.
  ...([
    [[2, 25, 72], 96, null, null, false],
    [[2, 25, 70], 90, null, null, false],
    [[2, 25, 72], 96, TILES.large, 3, false],
    [[2, 25, 72], 96, null, null, true],
  ] as [number[], number, Tile | null, number | null, boolean][]).map(([shape, outFeatures, tile, split, frozen]): KernelCase => {
    const inFeatures = shape[shape.length - 1];
    const rows = shape[0] * shape[1];
    return {
      name: `linearOfGelu [${shape}] -> ${outFeatures}${tile ? ` (${tileKey(tile)} tile, K in ${split})` : ""}${frozen ? ", weight frozen" : ""}`,
      tile: tile ?? undefined,
      split: split ?? undefined,
      outputs: frozen ? ["y", "dh", "dbias"] : ["y", "dh", "dweight", "dbias"],
      run: () => {
        const h = tf.tensor(values(rows * inFeatures, 28, 3), shape);
        const weight = tf.tensor(values(outFeatures * inFeatures, 29), [outFeatures, inFeatures]);
        const bias = tf.tensor(values(outFeatures, 30));
        const dy = tf.tensor(values(rows * outFeatures, 31), [shape[0], shape[1], outFeatures]);
        if (!frozen) return withGradients((x, w, b) => linearOfGelu(x, w, b), [h, weight, bias], dy);
        const frozenWeight = tf.variable(weight, false);
        const outputs = withGradients((x, b) => linearOfGelu(x, frozenWeight, b), [h, bias], dy);
        frozenWeight.dispose();
        return outputs;
      },
    };
  }),
  // A Linear with LoRA as one op on WebGPU (lib/webgpu/lora-linear.ts): the update added inside the
  // base product each way. The base trained (every gradient) and frozen (x's and the factors'), K
  // in 3 chunks (the chunks' sum adds the update), and a rank of 6 (factors read as floats). On the
  // cpu backend, LinearWithLoRA.forward as the module writes it.
  ...([
    [[2, 50, 128], 96, 8, null, null, false],
    [[2, 50, 128], 96, 8, null, null, true],
    [[2, 50, 96], 128, 8, TILES.large, 3, true],
    [[2, 40, 64], 128, 6, null, null, false],
  ] as [number[], number, number, Tile | null, number | null, boolean][]).map(([shape, outFeatures, rank, tile, split, frozen]): KernelCase => {
    const inFeatures = shape[shape.length - 1];
    const rows = shape[0] * shape[1];
    const wanted = frozen ? ["lora.A", "lora.B"] : ["linear.weight", "linear.bias", "lora.A", "lora.B"];
    return {
      name: `LinearWithLoRA [${shape}] -> ${outFeatures}, r = ${rank}${tile ? ` (${tileKey(tile)} tile, K in ${split})` : ""}${frozen ? ", base frozen" : ""}`,
      tile: tile ?? undefined,
      split: split ?? undefined,
      outputs: ["y", "dx", ...wanted.map((n) => `d ${n}`)],
      run: () => {
        manualSeed(14);
        const layer = new LinearWithLoRA(new Linear(inFeatures, outFeatures), rank, 2 * rank);
        let seed = 50;
        for (const p of layer.parameters()) p.assign(tf.tensor(values(p.size, seed++, 0.2), p.shape));
        const named = new Map(layer.namedParameters());
        if (frozen) for (const n of ["linear.weight", "linear.bias"]) named.get(n)!.trainable = false;
        const x = tf.variable(tf.tensor(values(rows * inFeatures, 57), shape));
        const dy = tf.tensor(values(rows * outFeatures, 58), [shape[0], shape[1], outFeatures]);
        const wrt = [x, ...wanted.map((n) => named.get(n)!)];
        const y = layer.forward(x);
        const { grads } = tf.variableGrads(() => {
          const out = layer.forward(x);
          // What the forward pass keeps for the backward besides x, the output and the weights: on
          // WebGPU h and A^T, [rows, r] and [r, in]; as the module writes it, three more tensors of
          // the output's size.
          const kept = savedBytesBesides([x, out, ...layer.parameters()]);
          if (tf.getBackend() === "webgpu" && !(loraLinearTakes(layer, x) && kept < out.size * 4)) {
            throw new Error(`LinearWithLoRA on webgpu: the fused op ${loraLinearTakes(layer, x) ? `kept ${kept} bytes for the backward pass, the output is ${out.size * 4}` : "did not take the layer"}`);
          }
          return tf.sum(tf.mul(out, dy));
        }, wrt);
        return [y, ...wrt.map((v) => grads[v.name])];
      },
    };
  }),
  // Sums over every axis but the last (lib/webgpu/column-sum.ts): one pass (50 rows), two (300
  // rows in blocks of 128, the last short), fewer than 64 vec4 columns and more; keepDims; and two
  // that stay with tfjs (over the last axis; a last axis not a multiple of 4).
  ...([
    [[3, 50, 12], [0, 1], false],
    [[300, 264], [0], true],
    [[2, 150, 8], [1, 0], false],
    [[2, 150, 8], [2], false],
    [[40, 6], [0], false],
  ] as [number[], number[], boolean][]).map(([shape, axes, keepDims]): KernelCase => {
    const n = shape.reduce((a, b) => a * b, 1);
    return {
      name: `sum [${shape}] over [${axes}]${keepDims ? " keepDims" : ""}`,
      outputs: ["y", "shape"],
      run: () => {
        const y = tf.sum(tf.tensor(values(n, 20, 3), shape), axes, keepDims);
        return [y, tf.tensor(y.shape.length > 0 ? y.shape : [0])];
      },
    };
  }),
  // Self-attention's q, k and v projections: one matmul and the head kernels on WebGPU
  // (lib/webgpu/attention.ts), three Linears on the cpu backend. Every parameter's
  // gradient and the input's; with LoRA on q and v, theirs too. The second review has 3 padding tokens.
  // The third trains, with dropout on the attention weights. On WebGPU the attention runs as one
  // kernel that never stores its weights (lib/webgpu/flash-attention.ts): 70 tokens leave the last
  // tiles of queries and keys partial; 8 heads of 16 take other tile sizes. That kernel shares rows
  // among four threads where the device has subgroups (SwiftShader has), and takes one row a thread
  // with flashAttentionQuads off ("rows"). With flashAttention off ("stored"), the products and the
  // fused softmax + dropout instead. Two cases split the quads' work other ways (OTHER_PLANS):
  // a query's softmax over two or four threads, larger chunks, one row a quad, tiles not a power of two.
  // 64 tokens a review: LoRA's products over the batch's 128 tokens take the skinny kernels, as at full size.
  ...(
    [
      [false, false, 9, 2, "quads"],
      [true, false, 9, 2, "quads"],
      [true, true, 12, 2, "quads"],
      [true, true, 64, 2, "quads"],
      [false, true, 70, 2, "quads"],
      [true, true, 12, 8, "quads"],
      [true, true, 70, 2, "quads", 0],
      [false, true, 70, 2, "quads", 1],
      [true, true, 12, 2, "rows"],
      [false, true, 70, 2, "rows"],
      [true, true, 12, 8, "rows"],
      [true, true, 12, 2, "stored"],
      [true, true, 64, 2, "stored"],
    ] as const
  ).map(([withLoRA, training, tokens, heads, path, plans]: readonly [boolean, boolean, number, number, "quads" | "rows" | "stored", number?]): KernelCase => {
    const wrapped = (l: string) => (withLoRA && (l === "q_lin" || l === "v_lin") ? `${l}.linear` : l);
    const names = ["q_lin", "k_lin", "v_lin", "out_lin"].flatMap((l) => [`${wrapped(l)}.weight`, `${wrapped(l)}.bias`]);
    const loraNames = withLoRA ? ["q_lin.lora.A", "q_lin.lora.B", "v_lin.lora.A", "v_lin.lora.B"] : [];
    return {
      name: `attention [2,${tokens},128], ${heads} heads: q, k, v together${withLoRA ? ", LoRA on q and v" : ""}${training ? ", training (dropout 0.1)" : ""}${{ quads: "", rows: ", one row a thread", stored: ", flashAttention off" }[path]}${plans === undefined ? "" : `, plans ${planKeys(OTHER_PLANS[plans])}`}`,
      kernels: { flashAttention: path !== "stored", flashAttentionQuads: path === "quads", ...(plans === undefined ? {} : { attentionPlans: OTHER_PLANS[plans] }) },
      outputs: ["y", "dx", ...[...names, ...loraNames].map((n) => `d ${n}`)],
      run: () => {
        manualSeed(11);
        const T = tokens; // the fused softmax-dropout kernel takes 4k keys
        const attention = new DistilBertSelfAttention(distilBertConfig({ dim: 128, nHeads: heads, nLayers: 1, hiddenDim: 256, attentionDropout: training ? 0.1 : 0 }));
        if (withLoRA) {
          attention.q_lin = new LinearWithLoRA(attention.q_lin, 4, 2);
          attention.v_lin = new LinearWithLoRA(attention.v_lin, 4, 2);
        }
        if (!training) attention.eval();
        const params = new Map(attention.namedParameters());
        let seed = 30;
        for (const name of [...names, ...loraNames]) {
          const p = params.get(name)!;
          p.assign(tf.tensor(values(p.size, seed++, 0.2), p.shape));
        }
        const x = tf.variable(tf.tensor(values(2 * T * 128, 21), [2, T, 128]));
        const mask = tf.tensor([...Array(T + T - 3).fill(1), 0, 0, 0], [2, T], "int32");
        const dy = tf.tensor(values(2 * T * 128, 22), [2, T, 128]);
        const y = attention.forward(x, mask);
        // On WebGPU the fused cases must run the kernels they name: the quads where the device has subgroups.
        if (tf.getBackend() === "webgpu" && path !== "stored" && flashAttentionQuads(128 / heads) !== (path === "quads")) {
          throw new Error(`attention case: expected the ${path} kernels, but the device ${hasSubgroups() ? "has" : "lacks"} subgroups`);
        }
        const wrt = [x, ...[...names, ...loraNames].map((n) => params.get(n)!)];
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(attention.forward(x, mask), dy)), wrt);
        return [y, ...wrt.map((v) => grads[v.name])];
      },
    };
  }),
  // A whole transformer block in eval mode (no dropout): its FFN's GELU into lin2 and its two
  // LayerNorms of a sum fused on WebGPU. Every weight trained, and as LoRA trains it, the base
  // weights frozen: on q and v (lin2's GELU output not kept; x's and the factors' gradients), and
  // on q, v, lin1 and lin2 (the FFN's Linears with LoRA as one op each, GELU a kernel of its own).
  ...([null, "q, v", "q, v, lin1, lin2"] as const).map((lora): KernelCase => ({
    name: `transformer block${lora ? `, LoRA on ${lora} (base frozen)` : ", every weight trained"}`,
    outputs: lora === "q, v" ? ["y", "dx", "dA_q", "dB_q", "dA_v", "dB_v"] : lora ? ["y", "dx", "dA_q", "dB_v", "dA_lin1", "dB_lin1", "dA_lin2", "dB_lin2"] : ["y", "dx", "dlin1", "dlin2", "dlin2 bias", "dsa_layer_norm", "doutput_layer_norm bias"],
    run: () => {
      manualSeed(13);
      const block = new TransformerBlock(distilBertConfig({ dim: 128, nHeads: 2, nLayers: 1, hiddenDim: 256 }));
      if (lora) {
        for (const p of block.parameters()) p.trainable = false;
        block.attention.q_lin = new LinearWithLoRA(block.attention.q_lin, 4, 2);
        block.attention.v_lin = new LinearWithLoRA(block.attention.v_lin, 4, 2);
      }
      if (lora === "q, v, lin1, lin2") {
        block.ffn.lin1 = new LinearWithLoRA(block.ffn.lin1, 8, 16);
        block.ffn.lin2 = new LinearWithLoRA(block.ffn.lin2, 8, 16);
      }
      block.eval();
      const named = new Map(block.namedParameters());
      let seed = 40;
      for (const p of named.values()) p.assign(tf.tensor(values(p.size, seed++, 0.2), p.shape).add(p.name.includes("norm.weight") ? 1 : 0));
      const T = 40; // 80 rows: enough for our matmul tiles and the skinny kernels, so the fused FFN and LoRA inside the projections run
      const x = tf.variable(tf.tensor(values(2 * T * 128, 33), [2, T, 128]));
      const mask = tf.tensor([...Array(T + T - 3).fill(1), 0, 0, 0], [2, T], "int32");
      const dy = tf.tensor(values(2 * T * 128, 34), [2, T, 128]);
      const wanted =
        lora === "q, v"
          ? ["attention.q_lin.lora.A", "attention.q_lin.lora.B", "attention.v_lin.lora.A", "attention.v_lin.lora.B"]
          : lora
          ? ["attention.q_lin.lora.A", "attention.v_lin.lora.B", "ffn.lin1.lora.A", "ffn.lin1.lora.B", "ffn.lin2.lora.A", "ffn.lin2.lora.B"]
          : ["ffn.lin1.weight", "ffn.lin2.weight", "ffn.lin2.bias", "sa_layer_norm.weight", "output_layer_norm.bias"];
      const wrt = [x, ...wanted.map((n) => named.get(n)!)];
      const y = block.forward(x, mask);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(block.forward(x, mask), dy)), wrt);
      const outputs = [y, ...wrt.map((v) => grads[v.name])];
      clearProjectionCache();
      return outputs;
    },
  })),
  // A contiguous range copied out of a larger tensor (the fused attention's outputs): as vec4s,
  // and one float a thread where the range starts off a multiple of 4.
  ...([
    [0, [2, 3, 8]],
    [48, [2, 3, 8]],
    [97, [5, 7]],
  ] as const).map(([start, shape]): KernelCase => ({
    name: `copyRange of [2,72] from ${start} as [${shape}]`,
    outputs: ["y"],
    run: () => [copyRange(tf.tensor(values(144, 12), [2, 72]), start, [...shape])],
  })),
  {
    name: "gelu [3,5,70]",
    outputs: ["y", "dx"],
    run: () => withGradients((x) => gelu(x), [tf.tensor(values(1050, 8, 4), [3, 5, 70])], tf.tensor(values(1050, 9), [3, 5, 70])),
  },
  {
    // A size that divides by 4: four elements a thread, as vec4s.
    name: "gelu [3,5,72]",
    outputs: ["y", "dx"],
    run: () => withGradients((x) => gelu(x), [tf.tensor(values(1080, 8, 4), [3, 5, 72])], tf.tensor(values(1080, 9), [3, 5, 72])),
  },
  {
    // 2 x 3 heads x 4 queries x 150 keys (not a multiple of the 128 threads); the second review
    // has 40 padding keys.
    name: "maskedSoftmax [2,3,4,150]",
    outputs: ["y", "dscores"],
    run: () => {
      // int32, as batches make it: tfjs's cast to float32 on WebGPU keeps the int32 buffer.
      const mask = tf.tensor([...Array(150).fill(1), ...Array(110).fill(1), ...Array(40).fill(0)], [2, 150], "int32");
      return withGradients((s) => maskedSoftmax(s, mask), [tf.tensor(values(3600, 10, 5), [2, 3, 4, 150])], tf.tensor(values(3600, 11), [2, 3, 4, 150]));
    },
  },
  // Frozen q, k, v weights side by side are kept from step to step on WebGPU (lib/webgpu/attention.ts):
  // a forward pass after a weight is reassigned, and after the weights were trained in place by
  // Adam and frozen again, must see the new weights, as the cpu backend (which keeps nothing) does.
  {
    name: "attention: frozen q, k, v kept side by side, then reassigned, then trained and frozen again",
    outputs: ["y frozen", "y reassigned", "y trained"],
    run: () => {
      manualSeed(12);
      const attention = new DistilBertSelfAttention(distilBertConfig({ dim: 128, nHeads: 2, nLayers: 1, hiddenDim: 256, attentionDropout: 0 }));
      attention.q_lin = new LinearWithLoRA(attention.q_lin, 4, 2);
      attention.v_lin = new LinearWithLoRA(attention.v_lin, 4, 2);
      attention.eval();
      const x = tf.tensor(values(2 * 8 * 128, 25), [2, 8, 128]);
      const mask = tf.tensor([...Array(13).fill(1), 0, 0, 0], [2, 8], "int32");
      const base = [...attention.namedParameters()].filter(([name]) => !name.includes("lora") && !name.startsWith("out_lin")).map(([, p]) => p);
      const setTrainable = (on: boolean) => base.forEach((p) => (p.trainable = on));
      setTrainable(false);
      attention.forward(x, mask); // kept here
      const frozen = attention.forward(x, mask);
      const q = base[0];
      q.assign(tf.tensor(values(q.size, 26, 0.2), q.shape));
      const reassigned = attention.forward(x, mask);
      setTrainable(true);
      const optimizer = new Adam(base, { learningRate: 0.05 });
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(attention.forward(x, mask), tf.tensor(values(2 * 8 * 128, 27), [2, 8, 128]))), base);
      optimizer.applyGradients(grads);
      setTrainable(false);
      const trained = attention.forward(x, mask);
      clearProjectionCache();
      return [frozen, reassigned, trained];
    },
  },
  // Softmax then dropout while training: one kernel each way on WebGPU where the keys are 4k, at
  // most 1,024 (lib/webgpu/softmax.ts), the two ops on the cpu backend, with the same seed from the
  // same stream. 30 rows (not a multiple of a workgroup's 8), 148 keys (lanes past the row's end),
  // 512 keys (distilbert's), and 1,028 keys, past the fused kernel's reach: the two kernels run.
  ...[[2, 3, 5, 148], [1, 2, 3, 512], [1, 1, 2, 1028]].map((shape): KernelCase => {
    const [B, , , T] = shape;
    const n = shape.reduce((a, b) => a * b, 1);
    return {
      name: `maskedSoftmaxDropout [${shape}] rate 0.1`,
      outputs: ["y", "dscores"],
      run: () => {
        manualSeed(7);
        const dropout = new Dropout(0.1); // a new module trains, as torch's
        const mask = tf.tensor([...Array(T).fill(1), ...Array(B > 1 ? T - 40 : 0).fill(1), ...Array(B > 1 ? 40 : 0).fill(0)], [B, T], "int32");
        return withGradients((s) => maskedSoftmaxDropout(s, mask, dropout), [tf.tensor(values(n, 23, 5), shape)], tf.tensor(values(n, 24), shape));
      },
    };
  }),
  // Three AdamW steps with fixed gradients: parameters and both moments. On WebGPU in place
  // (lib/webgpu/adam-in-place.ts). With a clone of the parameter alive, which shares its buffer,
  // the first step makes new tensors (lib/webgpu/adam.ts) and the clone keeps the starting values.
  ...[false, true].map((withClone): KernelCase => ({
    name: `adam 3 steps [70,30]${withClone ? ", the parameter cloned" : ""}`,
    outputs: withClone ? ["p", "m", "v", "clone"] : ["p", "m", "v"],
    run: () => {
      // Made in a scope of its own, so that the variable alone holds its buffer.
      const p = tf.tidy(() => tf.variable(tf.tensor(values(2100, 12), [70, 30])));
      const clone = withClone ? p.clone() : null;
      const optimizer = new Adam([p], { learningRate: 0.01, weightDecay: 0.1 });
      for (let step = 0; step < 3; step++) optimizer.applyGradients({ [p.name]: tf.tensor(values(2100, 13 + step, 2), [70, 30]) });
      const { m, v } = optimizer.state().moments[0];
      return [p.clone(), m.clone(), v.clone(), ...(clone ? [clone] : [])];
    },
  })),
  // The same seed gives the same mask on every backend: four elements per thread on WebGPU
  // where the size divides by 4, one where it does not.
  ...[[2, 4, 64], [3, 5, 7]].map((shape): KernelCase => {
    const n = shape.reduce((a, b) => a * b, 1);
    return {
      name: `dropout [${shape}] rate 0.3`,
      outputs: ["y", "dx"],
      run: () => withGradients((x) => dropout(x, 0.3, 1234), [tf.tensor(values(n, 18), shape)], tf.tensor(values(n, 19), shape)),
    };
  }),
  // Attention's head split and merge: perm [0, 2, 1, 3] with a last axis of 4k runs our vec4
  // kernel (its gradient is the same transpose); other perms and sizes, tfjs's.
  // An identity perm shares the input's buffer, no copy (tf.gather's gradient asks for two).
  ...([[[2, 5, 3, 8], [0, 2, 1, 3]], [[2, 5, 3, 6], [0, 2, 1, 3]], [[2, 5, 3, 8], [0, 1, 3, 2]], [[6, 8], [0, 1]]] as number[][][]).map(([shape, perm]): KernelCase => {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = perm.map((axis) => shape[axis]);
    return {
      name: `transpose [${shape}] perm [${perm}]`,
      outputs: ["y", "dx"],
      run: () => withGradients((x) => tf.transpose(x, perm), [tf.tensor(values(n, 20), shape)], tf.tensor(values(n, 21), out)),
    };
  }),
  {
    // An embedding's gradient (full fine-tuning): rows summed per id, repeated ids among them.
    name: "gather [30,8] rows by ids [2,5] and its gradient",
    outputs: ["y", "dtable"],
    run: () => {
      const ids = tf.tensor2d([[3, 7, 3, 0, 29], [7, 7, 1, 3, 12]], [2, 5], "int32");
      const outputs = withGradients((table) => tf.gather(table, ids), [tf.tensor(values(240, 22), [30, 8])], tf.tensor(values(80, 23), [2, 5, 8]));
      ids.dispose();
      return outputs;
    },
  },
  layerNormCase("layerNorm [2,5,300] offset 50", [2, 5, 300], 50),
  layerNormCase("layerNorm [3,768]", [3, 768], 0),
  layerNormCase("layerNorm [2,3,70] (rows not of vec4s)", [2, 3, 70], 10),
  // LayerNorm(x + residual): the residual added as the kernels read x, both inputs' gradients from one kernel.
  layerNormCase("layerNorm of x + residual [2,5,300] offset 50", [2, 5, 300], 50, true),
  layerNormCase("layerNorm of x + residual [2,3,70] (rows not of vec4s)", [2, 3, 70], 10, true),
];
