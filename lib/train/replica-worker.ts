import * as tf from "@tensorflow/tfjs";
import { parentPort } from "worker_threads";
import { initBackend, BackendName } from "../backend";
import type { Module } from "../nn/module";
import { manualSeed } from "../nn/random";
import { stepGradients } from "./step";
import { ownValues } from "./data-parallel";
import type { ReplicaRequest, ReplicaReply, ModelRecipe } from "./data-parallel";

// One replica of data-parallel training (data-parallel.ts), on a thread of its own with its own
// tfjs backend. It builds the model from the recipe it is given, takes the main thread's weights,
// and then, step after step, takes the trained weights, computes the gradients of its rows of the
// batch and sends them back. It never updates a weight itself: the main thread's optimizer does.

let model: Module | null = null;
let trained: tf.Variable[] = [];

async function build(recipe: ModelRecipe): Promise<Module> {
  const exports = require(recipe.module) as Record<string, unknown>;
  const builder = exports[recipe.export];
  if (typeof builder !== "function") throw new Error(`${recipe.module} has no function ${recipe.export} to build the model with`);
  return (await (builder as (args: unknown) => Module | Promise<Module>)(recipe.args));
}

async function handle(request: ReplicaRequest): Promise<ReplicaReply> {
  if (request.type === "init") {
    // One thread: the replica is one core's share (LORA_WASM_THREADS is for the main thread alone).
    await initBackend(request.backend as BackendName, { quiet: true, wasmThreads: 1 });
    model = await build(request.recipe);
    const mine = new Map(model.namedParameters());
    const given = new Set(request.weights.map(([name]) => name));
    const missing = [...mine.keys()].filter((name) => !given.has(name));
    if (missing.length > 0) throw new Error(`the recipe's model has parameters that the main thread's model lacks: ${missing.slice(0, 3).join(", ")}`);
    for (const [name, values, shape] of request.weights) {
      const p = mine.get(name);
      if (!p) throw new Error(`the recipe's model has no parameter ${name}, which the main thread's model has`);
      if (p.shape.join() !== shape.join()) throw new Error(`parameter ${name}: [${p.shape}] in the recipe's model, [${shape}] in the main thread's`);
      tf.tidy(() => p.assign(tf.tensor(values, shape, "float32")));
    }
    const trainable = new Set(request.trainable);
    for (const [name, p] of mine) p.trainable = trainable.has(name);
    trained = request.trainable.map((name) => mine.get(name)!);
    model.train();
    return { type: "ready" };
  }
  if (!model) throw new Error(`a ${request.type} request came before the model was built`);
  const { rows, seqLen } = request;
  const weights = request.weights;
  if (weights) trained.forEach((p, i) => tf.tidy(() => p.assign(tf.tensor(weights[i], p.shape, "float32"))));
  if (request.type === "predict") {
    if (rows === 0) return { type: "predictions", predicted: new Int32Array(0) };
    model.eval();
    const predicted = tf.tidy(() => {
      const ids = tf.tensor2d(request.inputIds, [rows, seqLen], "int32");
      const mask = tf.tensor2d(request.attentionMask, [rows, seqLen], "int32");
      return tf.argMax(model!.forward(ids, mask), -1).dataSync() as Int32Array;
    });
    model.train();
    return { type: "predictions", predicted: Int32Array.from(predicted) };
  }
  manualSeed(request.seed);
  const inputs = [
    tf.tensor2d(request.inputIds, [rows, seqLen], "int32"),
    tf.tensor2d(request.attentionMask, [rows, seqLen], "int32"),
    tf.tensor1d(request.labels, "int32"),
  ] as const;
  const { loss, correct, grads } = stepGradients(model, trained, ...inputs);
  const reply: ReplicaReply = {
    type: "gradients",
    loss: loss.dataSync()[0],
    correct: correct.dataSync()[0],
    grads: trained.map((p) => (grads[p.name] ? ownValues(grads[p.name]) : null)),
  };
  tf.dispose([...inputs, loss, correct, ...Object.values(grads)]);
  return reply;
}

// Requests come one at a time: the main thread waits for each reply before it sends the next.
parentPort!.on("message", (request: ReplicaRequest) => {
  handle(request).then(
    (reply) => parentPort!.postMessage(reply, reply.type === "gradients" ? reply.grads.flatMap((g) => (g ? [g.buffer] : [])) : reply.type === "predictions" ? [reply.predicted.buffer] : []),
    (error: Error) => parentPort!.postMessage({ type: "error", message: error.message, stack: error.stack } satisfies ReplicaReply),
  );
});
