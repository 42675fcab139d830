import * as tf from "@tensorflow/tfjs";
import { gelu, layerNorm, linear } from "../../lib/nn/functional";
import { saveTensorsDirectly } from "../../lib/webgpu/saved-tensors";
import { values } from "../helpers/values";
import { useTestBackend } from "../helpers/backend";
import { setKernelOptions } from "../../lib/webgpu/options";

// Tensors kept for the backward pass, made directly instead of through tfjs's Identity kernel and
// its tape node (lib/webgpu/saved-tensors.ts): the same gradients, no Identity for the saves, every
// tensor and byte freed afterwards, and second derivatives as tfjs's own.

let x: tf.Tensor;
let weight: tf.Variable;
let bias: tf.Variable;
let lnWeight: tf.Variable;

beforeAll(async () => {
  await useTestBackend("cpu");
  saveTensorsDirectly();
  x = tf.tensor(values(4 * 6 * 16, 1, 2, 3), [4, 6, 16]);
  weight = tf.variable(tf.tensor(values(32 * 16, 2, 1, 1), [32, 16]));
  bias = tf.variable(tf.tensor(values(32, 3)));
  lnWeight = tf.variable(tf.tensor(values(32, 4, 1, 1)));
});

afterAll(() => setKernelOptions());

/** A small block: matMul and add save their inputs through tfjs's kernels, gelu and layerNorm through customOp. */
const loss = () => tf.sum(tf.square(layerNorm(gelu(linear(x, weight, bias)), lnWeight, null, 1e-5))) as tf.Scalar;

function gradients(): Record<string, Float32Array> {
  const { value, grads } = tf.variableGrads(loss, [weight, bias, lnWeight]);
  const out = Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, g.dataSync() as Float32Array]));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

test("the gradients are the same, bit for bit, with tensors saved directly or through tfjs's clone", () => {
  setKernelOptions({ directSaves: false });
  const throughClone = gradients();
  setKernelOptions();
  const direct = gradients();
  expect(Object.keys(direct).sort()).toEqual(Object.keys(throughClone).sort());
  for (const name of Object.keys(direct)) expect(Array.from(direct[name])).toEqual(Array.from(throughClone[name]));
  expect(direct[weight.name].some((v) => v !== 0)).toBe(true);
});

test("saved directly, a step runs the same kernels but the saves' Identity, and frees every tensor and byte it made", async () => {
  const kernelsOf = async (on: boolean) => {
    setKernelOptions({ directSaves: on });
    const profile = await tf.profile(() => {
      gradients();
    });
    return profile.kernels.map((k) => k.name);
  };
  const throughClone = await kernelsOf(false);
  const direct = await kernelsOf(true);
  const identities = (kernels: string[]) => kernels.filter((n) => n === "Identity").length;
  // One Identity is the backward pass's own (a gradient passed on as it is), not a save.
  expect(identities(direct)).toBe(1);
  expect(identities(throughClone)).toBeGreaterThan(20);
  expect(direct.filter((n) => n !== "Identity")).toEqual(throughClone.filter((n) => n !== "Identity"));

  gradients(); // warm: variables' gradients made once
  const before = tf.memory();
  for (let i = 0; i < 3; i++) gradients();
  expect(tf.memory().numTensors).toBe(before.numTensors);
  expect(tf.memory().numBytes).toBe(before.numBytes);
});

test("a second derivative is tfjs's own: d2/dx2 of sum(gelu(x) * x) against tfjs's clone and against finite differences", () => {
  const at = tf.tensor(values(12, 5), [12]);
  const secondDerivative = () =>
    tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(gelu(u), u)))(v)))(at).dataSync() as Float32Array);
  setKernelOptions({ directSaves: false });
  const throughClone = secondDerivative();
  setKernelOptions();
  const direct = secondDerivative();
  expect(Array.from(direct)).toEqual(Array.from(throughClone));
  // d/dx of the first derivative, by central differences of tf.grad itself.
  const h = 1e-2;
  const firstAt = (shift: number) => tf.tidy(() => tf.grad((u: tf.Tensor) => tf.sum(tf.mul(gelu(u), u)))(tf.add(at, shift)).dataSync() as Float32Array);
  const [up, down] = [firstAt(h), firstAt(-h)];
  direct.forEach((d2, i) => expect(d2).toBeCloseTo((up[i] - down[i]) / (2 * h), 2));
});
