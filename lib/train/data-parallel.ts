import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { Worker } from "worker_threads";
import type { Module } from "../nn/module";
import { nextSeed } from "../nn/random";
import type { Adam } from "./adam";
import { stepGradients } from "./step";

// Data-parallel training on a CPU: the cores of the machine, each with a replica of the model.
// tfjs's CPU backends (wasm, cpu) run a step on one core, and its threaded wasm build only spreads
// the matrix products (lib/wasm-threads.ts), so the other half of a step still runs on one core.
// Here each step's batch is cut into rows, one share per replica: the main thread computes its share's
// gradients while each worker thread computes its own, as PyTorch's DistributedDataParallel does
// across processes. The shares' gradients are averaged, weighted by rows, which gives the gradient
// of the whole batch's mean loss; the main thread's Adam applies it, and the next step sends the
// updated trained weights to every worker with its rows. Evaluation shares its batches the same
// way (predict). The main thread's model is the only one that is ever updated or checkpointed.
//
// Dropout masks come from the library's random stream (lib/nn/random.ts): each worker is seeded,
// step by step, with a seed drawn from the main thread's stream, so a run is fixed by its seed and
// its number of replicas, and a resumed run continues it exactly. With dropout off, a step's update
// equals the single-thread step's up to float rounding (the shares' sums are added in another order).

/** How a worker builds the model: `module`'s export `export`, called with `args` (structured-cloneable). */
export interface ModelRecipe {
  /** Absolute path of a module (a .ts file loads through tsx's loader; see loadableFile). */
  module: string;
  export: string;
  args: unknown;
}

/** What the main thread sends a worker. */
export type ReplicaRequest =
  | { type: "init"; backend: string; recipe: ModelRecipe; weights: [string, Float32Array, number[]][]; trainable: string[] }
  | { type: "step"; rows: number; seqLen: number; inputIds: Int32Array; attentionMask: Int32Array; labels: Int32Array; seed: number; weights: Float32Array[] }
  | { type: "predict"; rows: number; seqLen: number; inputIds: Int32Array; attentionMask: Int32Array; weights: Float32Array[] | null };

/** What a worker sends back. */
export type ReplicaReply =
  | { type: "ready" }
  | { type: "gradients"; loss: number; correct: number; grads: (Float32Array | null)[] }
  | { type: "predictions"; predicted: Int32Array }
  | { type: "error"; message: string; stack?: string };

/** A batch as rows of token ids (ArrayBatch's fields). */
export interface RowBatch {
  size: number;
  seqLen: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  labels: Int32Array;
}

/** Rows of a batch per replica, as even as possible, the first replicas taking one more where they differ. */
export function shareRows(size: number, replicas: number): number[] {
  return Array.from({ length: replicas }, (_, i) => Math.floor(size / replicas) + (i < size % replicas ? 1 : 0));
}

/** Rows [from, from + rows) of a batch. */
export function sliceRows(batch: RowBatch, from: number, rows: number): RowBatch {
  const cut = (a: Int32Array, width: number) => a.subarray(from * width, (from + rows) * width);
  return { size: rows, seqLen: batch.seqLen, inputIds: cut(batch.inputIds, batch.seqLen), attentionMask: cut(batch.attentionMask, batch.seqLen), labels: cut(batch.labels, 1) };
}

/**
 * A module's file as a worker can load it: `file` itself, or its TypeScript source where `file` is
 * a compiled name that is not on disk (a notebook kernel compiles lib/ in memory and names it .js).
 */
export function loadableFile(file: string): string {
  if (fs.existsSync(file)) return file;
  const source = file.replace(/\.js$/, ".ts");
  if (fs.existsSync(source)) return source;
  throw new Error(`data-parallel workers cannot load ${file}: no such file${source !== file ? `, nor ${source}` : ""}`);
}

/** tsx's loader, which lets a worker load TypeScript, where it is installed; null where it is not. */
function typeScriptLoader(): string | null {
  try {
    return require.resolve("tsx/cjs/api");
  } catch {
    return null;
  }
}

// Started through `eval`, so that the worker can load tsx's loader before a .ts file; a compiled
// library (.js) loads directly.
const BOOTSTRAP = `
const { workerData } = require("worker_threads");
if (workerData.tsx) require(workerData.tsx).register();
require(workerData.file);
`;

class Replica {
  private readonly worker: Worker;
  private waiting: { resolve: (reply: ReplicaReply) => void; reject: (error: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(readonly index: number) {
    const file = loadableFile(path.join(__dirname, "replica-worker.js"));
    this.worker = new Worker(BOOTSTRAP, { eval: true, workerData: { file, tsx: typeScriptLoader() } });
    this.worker.unref(); // an idle replica does not keep Node from exiting
    this.worker.on("message", (reply: ReplicaReply) => {
      const waiting = this.waiting;
      this.waiting = null;
      if (reply.type === "error") waiting?.reject(new Error(`data-parallel replica ${index}: ${reply.message}`));
      else waiting?.resolve(reply);
    });
    const fail = (error: Error) => {
      this.failure = error;
      this.waiting?.reject(error);
      this.waiting = null;
    };
    this.worker.on("error", (error) => fail(new Error(`data-parallel replica ${index} failed: ${error.message}`)));
    this.worker.on("exit", (code) => fail(new Error(`data-parallel replica ${index} stopped (exit code ${code})`)));
  }

  /** Send a request; resolves with the reply (an error reply rejects). */
  ask(request: ReplicaRequest, transfer: ArrayBuffer[] = []): Promise<ReplicaReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error(`data-parallel replica ${this.index} is still busy with the previous request`));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(request, transfer);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

/**
 * A tensor's values in an array of their own, which may be handed to another thread (transferred):
 * the wasm backend reads a tensor into a new array; the cpu backend hands out its own storage,
 * which is copied.
 */
export function ownValues(t: tf.Tensor): Float32Array {
  const read = t.dataSync() as Float32Array;
  return tf.getBackend() === "wasm" && read.byteOffset === 0 && read.byteLength === read.buffer.byteLength ? read : new Float32Array(read);
}

/** Worker threads that each hold a replica of a model and compute their share of every step's gradients. */
export class DataParallel {
  /**
   * Whether the workers hold the main thread's current trained weights. Not at first: a resumed
   * run puts the checkpoint's weights back after the workers have started.
   */
  private synced = false;

  private constructor(private readonly replicas: Replica[]) {}

  /** How many threads share a batch: the workers and the main thread. */
  get size(): number {
    return this.replicas.length + 1;
  }

  /**
   * Start `replicas - 1` workers beside the main thread, each building the model from `recipe` on
   * the main thread's backend (wasm or cpu) and taking `model`'s weights and trainable flags. Throws,
   * naming the parameter, where the recipe's model differs from `model`.
   */
  static async start(model: Module, recipe: ModelRecipe, replicas: number): Promise<DataParallel> {
    if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`data-parallel replicas must be a whole number of at least 1, got ${replicas}`);
    const backend = tf.getBackend();
    if (backend !== "wasm" && backend !== "cpu") {
      throw new Error(`data-parallel training runs on the CPU backends (wasm, cpu), not on ${backend}: a GPU backend already uses the whole device`);
    }
    const named = model.namedParameters();
    const weights = named.map(([name, p]): [string, Float32Array, number[]] => [name, ownValues(p), p.shape.slice()]);
    const trainable = named.filter(([, p]) => p.trainable).map(([name]) => name);
    recipe = { ...recipe, module: loadableFile(recipe.module) };
    const started = Array.from({ length: replicas - 1 }, (_, i) => new Replica(i + 1));
    const parallel = new DataParallel(started);
    try {
      await Promise.all(started.map((r) => r.ask({ type: "init", backend, recipe, weights, trainable })));
    } catch (error) {
      await parallel.close();
      throw error;
    }
    return parallel;
  }

  /**
   * One step on `batch`: each thread's share of forward, cross-entropy and gradients of
   * `parameters` (the trained ones, in the optimizer's order), averaged by rows and applied by
   * `optimizer`. Returns the batch's mean loss and its count of correct predictions.
   */
  async step(model: Module, optimizer: Adam, parameters: tf.Variable[], batch: RowBatch): Promise<{ loss: tf.Scalar; correct: tf.Scalar }> {
    const shares = shareRows(batch.size, this.size);
    const trained = parameters.map(ownValues);
    // The last worker with rows takes the weights' arrays themselves; the others get copies.
    const last = shares.slice(1).reduce((at, rows, i) => (rows > 0 ? i : at), -1);
    // Seeds first, then the main thread's own dropout: the order of draws on the stream is fixed.
    let from = shares[0];
    const replies = this.replicas.map((replica, i) => {
      const rows = shares[i + 1];
      const part = sliceRows(batch, from, rows);
      from += rows;
      if (rows === 0) return null;
      const request: ReplicaRequest = { type: "step", rows, seqLen: batch.seqLen, inputIds: part.inputIds.slice(), attentionMask: part.attentionMask.slice(), labels: part.labels.slice(), seed: nextSeed(), weights: trained };
      return replica.ask(request, i === last ? trained.map((w) => w.buffer as ArrayBuffer) : []);
    });
    this.synced = false; // the update below changes the weights the workers were sent
    const mine = sliceRows(batch, 0, shares[0]);
    const inputs = [
      tf.tensor2d(mine.inputIds, [mine.size, mine.seqLen], "int32"),
      tf.tensor2d(mine.attentionMask, [mine.size, mine.seqLen], "int32"),
      tf.tensor1d(mine.labels, "int32"),
    ] as const;
    const local = stepGradients(model, parameters, ...inputs);
    tf.dispose([...inputs]);
    let others: Extract<ReplicaReply, { type: "gradients" }>[];
    try {
      others = (await Promise.all(replies)).filter((r): r is Extract<ReplicaReply, { type: "gradients" }> => r !== null && r.type === "gradients");
    } catch (error) {
      tf.dispose([local.loss, local.correct, ...Object.values(local.grads)]);
      throw error;
    }
    const counted = shares.filter((rows, i) => i === 0 || rows > 0);
    const weight = counted.map((rows) => rows / batch.size);
    const grads: tf.NamedTensorMap = {};
    const result = tf.tidy(() => {
      parameters.forEach((p, j) => {
        const parts: tf.Tensor[] = [];
        if (local.grads[p.name]) parts.push(tf.mul(local.grads[p.name], weight[0]));
        others.forEach((reply, i) => {
          const g = reply.grads[j];
          if (g) parts.push(tf.mul(tf.tensor(g, p.shape, "float32"), weight[i + 1]));
        });
        if (parts.length > 0) grads[p.name] = tf.keep(parts.length === 1 ? parts[0] : tf.addN(parts));
      });
      const loss = tf.add(tf.mul(local.loss, weight[0]), others.reduce((sum, reply, i) => sum + reply.loss * weight[i + 1], 0)) as tf.Scalar;
      const correct = tf.add(local.correct, tf.scalar(others.reduce((sum, reply) => sum + reply.correct, 0), "int32")) as tf.Scalar;
      return { loss, correct };
    });
    tf.dispose([local.loss, local.correct, ...Object.values(local.grads)]);
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
    return result;
  }

  /**
   * Each row's predicted class (the highest logit), in eval mode: the main thread's share and each
   * worker's. The trained weights go to the workers with the first batch after they change
   * (a step, or `weightsChanged`, as when the best epoch's weights are put back).
   */
  async predict(model: Module, parameters: tf.Variable[], batch: Omit<RowBatch, "labels">): Promise<Int32Array> {
    const shares = shareRows(batch.size, this.size);
    const weights = this.synced ? null : parameters.map(ownValues);
    this.synced = true;
    let from = shares[0];
    const replies = this.replicas.map((replica, i) => {
      const rows = shares[i + 1];
      const cut = (a: Int32Array) => a.slice(from * batch.seqLen, (from + rows) * batch.seqLen);
      const request: ReplicaRequest = { type: "predict", rows, seqLen: batch.seqLen, inputIds: cut(batch.inputIds), attentionMask: cut(batch.attentionMask), weights };
      from += rows;
      return rows > 0 || weights ? replica.ask(request) : null;
    });
    const wasTraining = model.training;
    model.eval();
    const mine = tf.tidy(() => {
      const ids = tf.tensor2d(batch.inputIds.subarray(0, shares[0] * batch.seqLen), [shares[0], batch.seqLen], "int32");
      const mask = tf.tensor2d(batch.attentionMask.subarray(0, shares[0] * batch.seqLen), [shares[0], batch.seqLen], "int32");
      return tf.argMax(model.forward(ids, mask), -1).dataSync();
    });
    model.train(wasTraining);
    const predicted = new Int32Array(batch.size);
    predicted.set(mine);
    let at = shares[0];
    for (const reply of await Promise.all(replies)) {
      if (reply?.type !== "predictions") continue;
      predicted.set(reply.predicted, at);
      at += reply.predicted.length;
    }
    return predicted;
  }

  /** The trained weights changed outside step() (assigned): send them with the next prediction. */
  weightsChanged(): void {
    this.synced = false;
  }

  /** Stop the workers. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.close()));
  }
}
