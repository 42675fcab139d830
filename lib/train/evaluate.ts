import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { explainBackendFailure } from "../backend";
import { arrayBatches } from "../data/batches";
import type { TokenizedSplit } from "../data/token-cache";
import { Progress, ProgressOptions } from "../util/progress";
import type { DataParallel } from "./data-parallel";

/** Share of reviews whose highest logit is their label, in eval mode (no dropout). */
export async function evaluateAccuracy(
  model: Module,
  data: TokenizedSplit,
  options: {
    batchSize?: number;
    padMultiple?: number;
    progress?: ProgressOptions | false;
    /** Share each batch with data-parallel workers, which predict with `parameters` (the trained ones, in the workers' order). */
    parallel?: { replicas: DataParallel; parameters: tf.Variable[] };
  } = {},
): Promise<number> {
  const wasTraining = model.training;
  model.eval();
  const count = data.labels.length;
  const progress = options.progress === false ? null : new Progress({ total: count, unit: "reviews", label: "evaluate", ...options.progress });
  let correct = 0;
  // A batch's predictions are read while the next batch is queued, so a GPU does not wait for JavaScript.
  let pending: { predictions: tf.Tensor; values: Promise<tf.TypedArray>; labels: ArrayLike<number>; size: number } | null = null;
  const settle = async () => {
    if (!pending) return;
    const { predictions, values, labels, size } = pending;
    pending = null;
    const predicted = await values;
    predictions.dispose();
    for (let i = 0; i < size; i++) if (predicted[i] === labels[i]) correct++;
    progress?.tick(size);
  };
  // Sorted into similar lengths (order does not matter here): less padding, faster.
  for (const batch of arrayBatches(data, { batchSize: options.batchSize ?? 32, shuffle: false, bucketChunks: 50, padMultiple: options.padMultiple })) {
    if (options.parallel) {
      const predicted = await options.parallel.replicas.predict(model, options.parallel.parameters, batch);
      for (let i = 0; i < batch.size; i++) if (predicted[i] === batch.labels[i]) correct++;
      progress?.tick(batch.size);
      continue;
    }
    let predictions: tf.Tensor;
    try {
      predictions = tf.tidy(() => {
        const ids = tf.tensor2d(batch.inputIds, [batch.size, batch.seqLen], "int32");
        const mask = tf.tensor2d(batch.attentionMask, [batch.size, batch.seqLen], "int32");
        return tf.argMax(model.forward(ids, mask), -1);
      });
    } catch (error) {
      throw explainBackendFailure(error, `evaluation (a batch of ${batch.size} x ${batch.seqLen} tokens; --eval-batch-size sets its size)`);
    }
    const queued = { predictions, values: predictions.data(), labels: batch.labels, size: batch.size };
    await settle();
    pending = queued;
  }
  await settle();
  progress?.done();
  model.train(wasTraining);
  return count === 0 ? 0 : correct / count;
}
