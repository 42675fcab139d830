import * as tf from "@tensorflow/tfjs";
import {
  Linear, LoRALayer, LinearWithLoRA, LinearWithLoRAMerged, Sequential, ReLU, applyLoRA, mergeLoRA,
  loraTargetsFromFlags, countParameters, freeze, manualSeed,
} from "../../lib";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";

beforeAll(() => useTestBackend());

function knownLoRA(scaling?: "alpha" | "alpha/rank" | "alpha/sqrt(rank)"): LoRALayer {
  const lora = new LoRALayer(3, 2, 2, 2, scaling);
  lora.A.assign(tf.tensor2d([[1, 0], [0, 1], [1, 1]]));
  lora.B.assign(tf.tensor2d([[1, 2], [0, 1]]));
  return lora;
}

describe("LoRALayer", () => {
  test("forward is alpha * (x @ A @ B), computed by hand", () => {
    // x A = [1+3, 2+3] = [4, 5]; (x A) B = [4, 8 + 5] = [4, 13]; times alpha = 2
    expect(knownLoRA().forward(tf.tensor2d([[1, 2, 3]])).arraySync()).toEqual([[8, 26]]);
    expect(knownLoRA("alpha/rank").forward(tf.tensor2d([[1, 2, 3]])).arraySync()).toEqual([[4, 13]]);
    expect(maxAbsDiff(knownLoRA("alpha/sqrt(rank)").forward(tf.tensor2d([[1, 2, 3]])), [[4 * Math.SQRT2, 13 * Math.SQRT2]])).toBeLessThan(1e-5);
    // batch and sequence dimensions are kept: [1, 2, 3] -> [1, 2, 2]
    expect(knownLoRA().forward(tf.tensor3d([[[1, 2, 3], [0, 0, 1]]])).arraySync()).toEqual([[[8, 26], [2, 6]]]);
  });

  test("A is N(0, 1/rank) and B is zero at initialisation", () => {
    manualSeed(3);
    const lora = new LoRALayer(512, 64, 16, 1);
    const { mean, variance } = tf.moments(lora.A);
    expect(mean.dataSync()[0]).toBeCloseTo(0, 2);
    expect(Math.sqrt(variance.dataSync()[0])).toBeCloseTo(1 / 4, 2);
    expect(lora.B.shape).toEqual([16, 64]);
    expect(tf.sum(tf.abs(lora.B)).dataSync()[0]).toBe(0);
  });
});

describe("LinearWithLoRA", () => {
  test("at initialisation its output equals the Linear's exactly", () => {
    const linear = new Linear(6, 4);
    const x = tf.randomNormal([5, 6]);
    const before = linear.forward(x).dataSync();
    expect(new LinearWithLoRA(linear, 2, 16).forward(x).dataSync()).toEqual(before);
  });

  test("with the base frozen, gradients reach A and B only, and training moves only them", () => {
    manualSeed(5);
    const model = new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 1));
    applyLoRA(model, { rank: 2, alpha: 4, targets: ["0", "2"] });
    const all = model.parameters();
    const trainable = model.trainableParameters();
    const names = model.namedParameters().filter(([, p]) => p.trainable).map(([n]) => n);
    expect(names).toEqual(["0.linear.weight", "0.linear.bias", "0.lora.A", "0.lora.B", "2.linear.weight", "2.linear.bias", "2.lora.A", "2.lora.B"].filter((n) => n.includes("lora")));
    const x = tf.randomNormal([16, 4]);
    const target = tf.randomNormal([16, 1]);
    const loss = () => tf.mean(tf.square(tf.sub(model.forward(x), target))) as tf.Scalar;
    // Handed every variable, tfjs computes gradients for the trainable ones and gives null for the frozen.
    const { grads } = tf.variableGrads(loss, all);
    const reached = Object.keys(grads).filter((name) => grads[name] !== null);
    expect(reached.sort()).toEqual(trainable.map((p) => p.name).sort());
    expect(Object.keys(grads).filter((name) => grads[name] === null).sort()).toEqual(all.filter((p) => !p.trainable).map((p) => p.name).sort());
    const frozenBefore = all.filter((p) => !p.trainable).map((p) => p.dataSync().slice());
    const trainableBefore = trainable.map((p) => p.dataSync().slice());
    const optimizer = tf.train.adam(0.05);
    const first = loss().dataSync()[0];
    for (let step = 0; step < 30; step++) tf.dispose(optimizer.minimize(loss, true, trainable) ?? undefined);
    expect(loss().dataSync()[0]).toBeLessThan(first);
    all.filter((p) => !p.trainable).forEach((p, i) => expect(p.dataSync()).toEqual(frozenBefore[i]));
    trainable.forEach((p, i) => expect(p.dataSync()).not.toEqual(trainableBefore[i]));
  });

  test("LinearWithLoRAMerged and mergeLoRA give the same outputs to 1e-5", () => {
    manualSeed(11);
    const linear = new Linear(16, 8);
    const unmerged = new LinearWithLoRA(linear, 4, 8);
    unmerged.lora.B.assign(tf.randomNormal([4, 8], 0, 0.1));
    const merged = new LinearWithLoRAMerged(linear, 4, 8);
    merged.lora.A.assign(unmerged.lora.A);
    merged.lora.B.assign(unmerged.lora.B);
    const x = tf.randomNormal([3, 5, 16]);
    expect(maxAbsDiff(merged.forward(x), unmerged.forward(x))).toBeLessThan(1e-5);

    const model = new Sequential(unmerged, new ReLU(), new LinearWithLoRA(new Linear(8, 2), 2, 1));
    const before = model.forward(x);
    expect(mergeLoRA(model)).toBe(2);
    expect(model[0]).toBeInstanceOf(Linear);
    expect(model[2]).toBeInstanceOf(Linear);
    expect(maxAbsDiff(model.forward(x), before)).toBeLessThan(1e-5);
  });
});

describe("applyLoRA", () => {
  test("replaces the chosen layers by name or pattern, freezes the rest, and reports the paths", () => {
    const model = new Sequential(new Sequential(new Linear(4, 4), new Linear(4, 4)), new Linear(4, 2));
    const replaced = applyLoRA(model, { rank: 2, alpha: 1, targets: [/^0\.\d$/] });
    expect(replaced).toEqual(["0.0", "0.1"]);
    expect(countParameters(model, { trainableOnly: true })).toBe(2 * (4 * 2 + 2 * 4));
    expect(() => applyLoRA(model, { rank: 2, alpha: 1, targets: ["q_lin"] })).toThrow("no Linear layer matches the targets [q_lin]");
    expect(() => applyLoRA(model, { rank: 0, alpha: 1, targets: ["2"] })).toThrow("rank must be a positive integer");
  });

  test("the tutorial's flags name DistilBERT's layers", () => {
    expect(loraTargetsFromFlags({ query: true, value: true })).toEqual(["q_lin", "v_lin"]);
    expect(loraTargetsFromFlags({ query: true, key: true, value: true, projection: true, mlp: true, head: true })).toEqual([
      "q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2", "pre_classifier", "classifier",
    ]);
  });

  test("a 768x768 Linear with rank-8 LoRA trains 12,288 values", () => {
    const model = new Sequential(new Linear(768, 768));
    freeze(model);
    applyLoRA(model, { rank: 8, alpha: 16, targets: ["0"] });
    expect(countParameters(model, { trainableOnly: true })).toBe(12288);
    expect(countParameters(model)).toBe(768 * 768 + 768 + 12288);
  });
});
