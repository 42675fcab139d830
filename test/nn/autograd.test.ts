import * as tf from "@tensorflow/tfjs";
import { customOp, withoutGradients } from "../../lib/nn/autograd";
import { DistilBertForSequenceClassification, distilBertConfig } from "../../lib/models/distilbert";
import { prepareForMode, TUTORIAL_LORA } from "../../lib/train/experiment";
import { manualSeed } from "../../lib/nn/random";
import { gelu, layerNorm, maskedSoftmax } from "../../lib/nn/functional";
import { values } from "../helpers/values";

// The hand-written backward passes (customOp) against tfjs's autodiff of the plain formulas.

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor): Float32Array[] {
  return tf.tidy(() => tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), dy)))(inputs)).map((g) => g.dataSync() as Float32Array);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

test("layerNorm's gradients of x, weight and bias equal autodiff's", () => {
  const x = tf.tensor(values(2 * 7 * 30, 1, 2, 3), [2, 7, 30]);
  const w = tf.tensor(values(30, 2, 1, 1));
  const b = tf.tensor(values(30, 3));
  const dy = tf.tensor(values(2 * 7 * 30, 4), [2, 7, 30]);
  const plain = (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
    const { mean, variance } = tf.moments(a, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-12))), c), d);
  };
  const ours = gradsOf((a, c, d) => layerNorm(a, c, d, 1e-12), [x, w, b], dy);
  const reference = gradsOf(plain, [x, w, b], dy);
  for (let i = 0; i < 3; i++) expect(maxAbsDiff(ours[i], reference[i])).toBeLessThan(1e-4);
});

test("gelu's gradient equals autodiff of 0.5 x (1 + erf(x / sqrt 2))", () => {
  const x = tf.tensor(values(500, 5, 4));
  const dy = tf.tensor(values(500, 6));
  const [ours] = gradsOf((a) => gelu(a), [x], dy);
  const [reference] = gradsOf((a) => tf.mul(tf.mul(a, 0.5), tf.add(1, tf.erf(tf.mul(a, Math.SQRT1_2)))), [x], dy);
  expect(maxAbsDiff(ours, reference)).toBeLessThan(1e-5);
});

test("maskedSoftmax gives padding keys weight 0, and its gradient equals autodiff's", () => {
  const scores = tf.tensor(values(2 * 2 * 3 * 6, 7, 3), [2, 2, 3, 6]);
  const mask = tf.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]);
  const weights = maskedSoftmax(scores, mask).arraySync() as number[][][][];
  for (const row of weights[1][0]) expect(row.slice(4)).toEqual([0, 0]);
  for (const row of weights[0][1]) expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
  const dy = tf.tensor(values(72, 8), [2, 2, 3, 6]);
  const [ours] = gradsOf((s) => maskedSoftmax(s, mask), [scores], dy);
  const [reference] = gradsOf((s) => tf.softmax(tf.sub(s, tf.mul(tf.sub(1, mask).reshape([2, 1, 1, 6]), 1e9))), [scores], dy);
  expect(maxAbsDiff(ours, reference)).toBeLessThan(1e-6);
});

test("customOp computes only the gradients that are asked for", () => {
  const called: string[] = [];
  const a = tf.tensor([1, 2, 3]);
  const b = tf.tensor([4, 5, 6]);
  const f = (x: tf.Tensor, y: tf.Tensor) =>
    customOp({ x, y }, () => tf.mul(x, y), (dy) => ({
      x: () => (called.push("x"), tf.mul(dy, y)),
      y: () => (called.push("y"), tf.mul(dy, x)),
    }));
  const [dx] = tf.grads((x: tf.Tensor) => tf.sum(f(x, b)))([a]);
  expect(Array.from(dx.dataSync())).toEqual([4, 5, 6]);
  expect(called).toEqual(["x"]);
});

describe("withoutGradients (torch.no_grad)", () => {
  test("ops inside it are not recorded: their path contributes no gradient", () => {
    const v = tf.variable(tf.tensor([1, 2, 3]));
    // d/dv sum(3 * (2v) + v) would be 7; with 2v computed off the tape only the direct path counts.
    const { grads } = tf.variableGrads(() => tf.sum(tf.add(tf.mul(withoutGradients(() => tf.mul(v, 2)), 3), v)) as tf.Scalar, [v]);
    expect(Array.from(grads[v.name].dataSync())).toEqual([1, 1, 1]);
    v.dispose();
  });

  test("the tape is back on after it, also when it throws", () => {
    const v = tf.variable(tf.tensor([1, 2]));
    const { grads } = tf.variableGrads(() => {
      expect(() => withoutGradients(() => { throw new Error("inside"); })).toThrow("inside");
      return tf.sum(tf.mul(v, 5)) as tf.Scalar;
    }, [v]);
    expect(Array.from(grads[v.name].dataSync())).toEqual([5, 5]);
    v.dispose();
  });

  test("last-layers mode: the frozen encoder runs off the tape and the head's gradients are the same as with it on", () => {
    manualSeed(3);
    const model = new DistilBertForSequenceClassification(distilBertConfig({ vocabSize: 50, dim: 16, nHeads: 2, nLayers: 2, hiddenDim: 32, maxPositionEmbeddings: 16, dropout: 0, attentionDropout: 0, seqClassifDropout: 0 }));
    prepareForMode(model, "last-layers", TUTORIAL_LORA);
    const ids = tf.tensor([[1, 5, 7, 9, 0], [2, 4, 6, 0, 0]], [2, 5], "int32");
    const mask = tf.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], [2, 5], "int32");
    const head = model.trainableParameters();
    const tape = () => (tf.engine() as unknown as { state: { activeTape: unknown[] } }).state.activeTape.length;
    const headGrads = () => {
      let recorded = 0;
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.forward(ids, mask);
        recorded = tape();
        return tf.sum(tf.square(logits)) as tf.Scalar;
      }, head);
      const out = head.map((p) => Array.from(grads[p.name].dataSync()));
      tf.dispose([value, ...Object.values(grads)]);
      return { recorded, out };
    };
    const tensorsBefore = tf.memory().numTensors;
    const offTape = headGrads();
    expect(tf.memory().numTensors).toBe(tensorsBefore); // nothing kept
    const probe = model.distilbert.embeddings.LayerNorm.weight!;
    probe.trainable = true; // the encoder now has a trainable weight: it runs on the tape (not asked for here)
    const onTape = headGrads();
    probe.trainable = false;
    expect(offTape.out).toEqual(onTape.out);
    // The head's few ops against the whole encoder's.
    expect(offTape.recorded).toBeLessThan(30);
    expect(onTape.recorded).toBeGreaterThan(offTape.recorded + 50);
    model.dispose();
  });
});
