// How to split the fused attention's quad kernels (lib/webgpu/flash-attention-quads.ts) over the
// GPU: each plan of the forward, dq and dk-dv kernels timed exactly with timestamp queries
// (tf.profile; the best of five) at distilbert-base's attention in a training step (12 reviews of
// 512 tokens, 12 heads of 64, dropout 0.1), and checked against the default plan's output. Prints
// the fastest plans as train-step's --attention-plans takes them. Short kernels need Dawn's
// timestamp quantization off:
//
//   node .gpu/app/attention-plans.mjs --dawn "disable-dawn-features=timestamp_quantization" --out $OUT/attention-plans.json
//
// --batch and --tokens take another shape (a quick look on SwiftShader: --batch 2 --tokens 48).
import "../scripts/gpu/dirname-shim";
import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import { parseArgs } from "util";
import { initBackend } from "../lib/backend";
import { AttentionPlan, AttentionPlans, DEFAULT_ATTENTION_PLANS, setKernelOptions } from "../lib/webgpu/options";
import { FlashAttentionSaved, FlashAttentionShape } from "../lib/webgpu/flash-attention-common";
import { forwardQuads, keyGradientsQuads, planKey, queryGradientQuads } from "../lib/webgpu/flash-attention-quads";
import { hasSubgroups } from "../lib/webgpu/subgroups";
import { copyRange } from "../lib/webgpu/elementwise";
import { timeKernels } from "./gpu-timing";

const RATE = 0.1;
const SEED = 7;

type Kernel = keyof AttentionPlans;

/** Multiply-adds x 2 of each kernel: the forward's two products, dq's three, dk-dv's four (each T x T x D a head). */
const PRODUCTS: Record<Kernel, number> = { forward: 2, queryGradient: 3, keyGradients: 4 };

function plansOf(kernel: Kernel): AttentionPlan[] {
  const rows = kernel === "keyGradients" ? [1, 2] : [1, 2, 4];
  const tiles = kernel === "keyGradients" ? [16, 64] : [64];
  const all = rows.flatMap((r) => [2, 4, 8].flatMap((chunk) => [64, 128, 256].flatMap((threads) => tiles.map((tile) => ({ rows: r, chunk, threads, tile })))));
  return all.filter((plan) => {
    try {
      setKernelOptions({ attentionPlans: { ...DEFAULT_ATTENTION_PLANS, [kernel]: plan } });
      return true;
    } catch {
      return false; // a plan the kernel does not take (pairs that do not split over a quad)
    } finally {
      setKernelOptions();
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: "string" }, dawn: { type: "string" }, batch: { type: "string", default: "12" }, tokens: { type: "string", default: "512" } } });
  const backend = await initBackend("webgpu", { dawnFlags: values.dawn?.split(" ") });
  if (!hasSubgroups()) throw new Error("attention-plans: this device has no subgroups, so the quad kernels do not run on it");
  const s: FlashAttentionShape = { batch: Number(values.batch), heads: 12, tokens: Number(values.tokens), headDim: 64 };
  const bh = s.batch * s.heads;
  const merged = s.batch * s.tokens * s.heads * s.headDim;
  const heads = [bh, s.tokens, s.headDim];
  const [q, k, v] = [1, 2, 3].map((seed, i) => tf.mul(tf.randomNormal(heads, 0, 1, "float32", seed), i === 0 ? 0.125 : 1));
  // Reviews of every length down to a third of the tokens (512 down to 160), the rest padding.
  const lengths = [...Array(s.batch).keys()].map((b) => s.tokens - Math.floor((s.tokens * b) / 16));
  const mask = tf.tensor(lengths.flatMap((n) => [...Array(s.tokens).keys()].map((t) => (t < n ? 1 : 0))), [s.batch, s.tokens]);
  const dy = tf.randomNormal([s.batch, s.tokens, s.heads * s.headDim], 0, 1, "float32", 4);
  const out = forwardQuads(q, k, v, mask, s, RATE, SEED);
  const o = copyRange(out, 0, [s.batch, s.tokens, s.heads, s.headDim]);
  const lse = copyRange(out, merged, heads.slice(0, 2));
  const delta = tf.tidy(() => tf.sum(tf.mul(dy.reshape(o.shape), o), 3).transpose([0, 2, 1]).reshape(heads.slice(0, 2)));
  const saved: FlashAttentionSaved = { q, k, v, dy, mask, lse, delta };
  const run: Record<Kernel, () => tf.Tensor> = {
    forward: () => forwardQuads(q, k, v, mask, s, RATE, SEED),
    queryGradient: () => queryGradientQuads(saved, s, RATE, SEED),
    keyGradients: () => keyGradientsQuads(saved, s, RATE, SEED),
  };
  const best: Record<string, string> = {};
  const rows = [];
  for (const kernel of Object.keys(run) as Kernel[]) {
    setKernelOptions();
    const reference = run[kernel]();
    const flop = 2 * PRODUCTS[kernel] * bh * s.tokens * s.tokens * s.headDim;
    const us: Record<string, number> = {};
    for (const plan of plansOf(kernel)) {
      setKernelOptions({ attentionPlans: { ...DEFAULT_ATTENTION_PLANS, [kernel]: plan } });
      const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(run[kernel](), reference))));
      const diff = (await gap.data())[0];
      gap.dispose();
      if (!(diff < 1e-3)) throw new Error(`${kernel}: plan ${planKey(plan)} differs from the default plan by ${diff}`);
      us[planKey(plan)] = 1000 * (await timeKernels(run[kernel]));
    }
    setKernelOptions();
    reference.dispose();
    const sorted = Object.entries(us).sort((x, y) => x[1] - y[1]);
    const rate = (t: number) => (flop / (t * 1e-6) / 1e12).toFixed(1);
    const standard = us[planKey(DEFAULT_ATTENTION_PLANS[kernel])];
    console.log(`${kernel.padEnd(14)} best ${sorted[0][0]} ${sorted[0][1].toFixed(0)} us (${rate(sorted[0][1])} TFLOP/s); default ${planKey(DEFAULT_ATTENTION_PLANS[kernel])} ${standard.toFixed(0)} us (${rate(standard)} TFLOP/s)`);
    console.log("   " + sorted.map(([key, t]) => `${key} ${t.toFixed(0)}`).join(" | "));
    best[kernel] = sorted[0][0];
    rows.push({ kernel, gflop: flop / 1e9, us });
  }
  const key = [best.forward, best.queryGradient, best.keyGradients].join("/");
  console.log(`fastest: --attention-plans ${key}`);
  if (values.out) {
    const what = `The fused attention's quad kernels (lib/webgpu/flash-attention-quads.ts) at ${s.batch} x ${s.tokens} tokens, 12 heads of 64, dropout 0.1: GPU us of each plan (r rows, c chunk, t threads, w tile), best of five`;
    fs.writeFileSync(values.out, JSON.stringify({ what, backend: backend.name, device: backend.device, dawn_flags: backend.dawnFlags ?? null, date: new Date().toISOString(), fastest: key, rows }, null, 2) + "\n");
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
