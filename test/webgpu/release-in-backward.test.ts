import * as tf from "@tensorflow/tfjs";
import { DistilBertForSequenceClassification, distilBertConfig } from "../../lib/models/distilbert";
import { crossEntropy } from "../../lib/nn/functional";
import { customOp } from "../../lib/nn/autograd";
import { manualSeed } from "../../lib/nn/random";
import { prepareForMode, Mode } from "../../lib/train/experiment";
import { releaseInBackward } from "../../lib/webgpu/release-in-backward";
import { KernelOptions, setKernelOptions } from "../../lib/webgpu/options";
import { trackMemory } from "../../bench/memory-tracking";
import { useTestBackend } from "../helpers/backend";
import { values } from "../helpers/values";

// Gradients and saved tensors freed as the backward pass goes past their op
// (lib/webgpu/release-in-backward.ts), on the cpu backend and on WebAssembly (where the chapters
// run; initBackend installs it there as on WebGPU): the same gradients bit for bit as when tfjs
// keeps everything to the pass's end, a lower peak, every tensor freed afterwards, and ops whose
// gradient hands on the tensor it was given, or one it saved, still right. On WebAssembly, tfjs's
// way of saving a tensor for the backward pass copies it (the wasm Identity kernel copies its
// input); saved directly (lib/webgpu/saved-tensors.ts), the saves share their buffers.

const B = 2;
const T = 16;
const config = distilBertConfig({ vocabSize: 100, maxPositionEmbeddings: 32, dim: 32, nLayers: 2, nHeads: 2, hiddenDim: 64 });
let ids: tf.Tensor2D;
let mask: tf.Tensor2D;
let labels: tf.Tensor1D;

beforeAll(async () => {
  await useTestBackend("cpu");
  releaseInBackward(); // initBackend installs it on wasm and webgpu; on cpu, here
  ids = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % 100), [B, T], "int32");
  mask = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i % T < T - 3 * (i < T ? 1 : 0) ? 1 : 0)), [B, T], "int32");
  labels = tf.tensor1d([0, 1], "int32");
});

afterAll(() => {
  setKernelOptions();
  tf.dispose([ids, mask, labels]);
});

interface Pass {
  loss: number;
  grads: Record<string, Float32Array>;
  /** Highest bytes in use during the gradients call, above what was in use before it. */
  peak: number;
}

/** One forward and backward pass of a small DistilBERT in a mode, dropout on (seeded). */
function pass(mode: Mode, release: boolean, options: Partial<KernelOptions> = {}): Pass {
  manualSeed(7);
  const model = new DistilBertForSequenceClassification(config);
  prepareForMode(model, mode, { rank: 4, alpha: 8, scaling: "alpha", flags: { query: true, value: true } });
  const parameters = model.trainableParameters();
  model.train();
  setKernelOptions({ ...options, releaseInBackward: release });
  const tracker = trackMemory();
  const before = tf.memory().numBytes;
  tracker.mark();
  const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(ids, mask), labels), parameters);
  const peak = tracker.peakSinceMark().bytes - before;
  tracker.stop();
  // Keyed by the parameter's path in the model (a variable's own name differs from model to model).
  const pathOf = new Map(model.namedParameters().map(([path, p]) => [p.name, path]));
  const out = Object.fromEntries(Object.entries(grads).map(([name, g]) => [pathOf.get(name)!, g.dataSync() as Float32Array]));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  model.dispose();
  return { loss, grads: out, peak };
}

describe.each(["cpu", "wasm"] as const)("on %s", (backend) => {
  beforeAll(() => useTestBackend(backend));

  describe.each<Mode>(["lora", "full"])("%s", (mode) => {
    test("the same loss and gradients, bit for bit, whether the backward pass frees as it goes or keeps everything", () => {
      const kept = pass(mode, false);
      const released = pass(mode, true);
      expect(released.loss).toBe(kept.loss);
      expect(Object.keys(released.grads).sort()).toEqual(Object.keys(kept.grads).sort());
      for (const name of Object.keys(kept.grads)) expect(Array.from(released.grads[name])).toEqual(Array.from(kept.grads[name]));
      // Every gradient carries something, but LoRA's A's: zero while B starts at zero.
      const zero = Object.keys(released.grads).filter((name) => released.grads[name].every((v) => v === 0));
      expect(zero).toEqual(mode === "lora" ? Object.keys(released.grads).filter((name) => /\bA$/.test(name)) : []);
    });

    test("the pass's peak falls, and every tensor it made is freed", () => {
      pass(mode, true); // warm
      const start = tf.memory();
      const kept = pass(mode, false);
      const released = pass(mode, true);
      expect(tf.memory().numTensors).toBe(start.numTensors);
      expect(tf.memory().numBytes).toBe(start.numBytes);
      // Kept, the peak holds every saved tensor and every gradient at once; freed as the pass goes,
      // well under that.
      expect(released.peak).toBeLessThan(0.75 * kept.peak);
    });
  });

  if (backend === "wasm") {
    test("saved directly, the saves share their buffers: the same gradients bit for bit, the forward pass's copies gone", () => {
      const copied = pass("lora", true, { directSaves: false });
      const shared = pass("lora", true);
      expect(shared.loss).toBe(copied.loss);
      for (const name of Object.keys(copied.grads)) expect(Array.from(shared.grads[name])).toEqual(Array.from(copied.grads[name]));
      expect(shared.peak).toBeLessThan(0.75 * copied.peak);
    });
  }
});

test("a gradient handed on unchanged, or a saved tensor handed on as a gradient, is not freed under the next op", () => {
  const x = tf.variable(tf.tensor(values(24, 3), [4, 6]));
  const passOn = (t: tf.Tensor) => customOp({ t }, () => tf.mul(t, 1), (dy) => ({ t: () => dy })); // dy as it came
  const savedOn = (t: tf.Tensor) =>
    customOp(
      { t },
      (save) => {
        const ones = tf.onesLike(t);
        save([ones]);
        return tf.mul(t, ones);
      },
      (_dy, [ones]) => ({ t: () => ones }), // right under a sum, where dy is ones: the saved tensor itself
    );
  const gradient = (release: boolean) => {
    setKernelOptions({ releaseInBackward: release });
    const { value, grads } = tf.variableGrads(() => tf.sum(savedOn(passOn(tf.mul(passOn(tf.square(x)), 3)))) as tf.Scalar, [x]);
    const g = Array.from(grads[x.name].dataSync());
    tf.dispose([value, grads[x.name]]);
    return g;
  };
  const expected = Array.from(tf.tidy(() => tf.mul(x, 6).dataSync()));
  const before = tf.memory().numTensors;
  expect(gradient(true)).toEqual(gradient(false));
  expect(gradient(true)).toEqual(expected);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
});

test("second derivatives are tfjs's own: nothing is freed early inside a gradient of a gradient", () => {
  const at = tf.tensor(values(12, 5), [12]);
  const second = (release: boolean) => {
    setKernelOptions({ releaseInBackward: release });
    return tf.tidy(() => Array.from(tf.grad((v: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.tanh(u), u)))(v)))(at).dataSync()));
  };
  expect(second(true)).toEqual(second(false));
  at.dispose();
});
