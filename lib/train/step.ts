import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { crossEntropy } from "../nn/functional";
import { Adam } from "./adam";

// One fine-tuning step, on tensors alone: what the training loop (train.ts) repeats, and what a web
// page can run as it is.

/** A step queued on the device: its loss and count of correct predictions, not yet read back. */
export interface QueuedStep {
  loss: tf.Scalar;
  correct: tf.Scalar;
  /** Both values, asked for as the step was queued (readStep waits for them). */
  values: Promise<[tf.TypedArray, tf.TypedArray]>;
}

/**
 * Queue one step: forward, cross-entropy, gradients of the trainable parameters only, and the Adam
 * update. Nothing waits for the device: the caller reads the step back (readStep) while later
 * steps are queued, so the GPU never idles while JavaScript prepares the next step.
 */
export function queueTrainStep(
  model: Module,
  optimizer: Adam,
  parameters: tf.Variable[],
  inputIds: tf.Tensor,
  attentionMask: tf.Tensor,
  labels: tf.Tensor,
): QueuedStep {
  const { loss, correct } = stepTensors(model, optimizer, parameters, inputIds, attentionMask, labels);
  // Asked for now, on a GPU the copy back is queued right behind this step's kernels and is done
  // when they are, while the next step runs. Asked for once the next step is queued, it would wait
  // for that step as well, and the GPU would idle while JavaScript queued the one after.
  return { loss, correct, values: Promise.all([loss.data(), correct.data()]) };
}

/** A step's work (forward, cross-entropy, gradients of `parameters`, Adam's update); returns its loss and correct count. */
export function stepTensors(
  model: Module,
  optimizer: Adam,
  parameters: tf.Variable[],
  inputIds: tf.Tensor,
  attentionMask: tf.Tensor,
  labels: tf.Tensor,
): { loss: tf.Scalar; correct: tf.Scalar } {
  const { loss, correct, grads } = stepGradients(model, parameters, inputIds, attentionMask, labels);
  optimizer.applyGradients(grads);
  tf.dispose(Object.values(grads));
  return { loss, correct };
}

/**
 * Forward, cross-entropy (the batch's mean) and the gradients of `parameters`, keyed by variable
 * name (a parameter the loss does not reach has none), without an update.
 */
export function stepGradients(
  model: Module,
  parameters: tf.Variable[],
  inputIds: tf.Tensor,
  attentionMask: tf.Tensor,
  labels: tf.Tensor,
): { loss: tf.Scalar; correct: tf.Scalar; grads: tf.NamedTensorMap } {
  let correct: tf.Scalar | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.forward(inputIds, attentionMask);
    correct = tf.keep(tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), "int32")) as tf.Scalar));
    return crossEntropy(logits, labels);
  }, parameters);
  return { loss: value as tf.Scalar, correct: correct!, grads };
}

/** Wait for a queued step and read its loss and correct count (its tensors are freed). */
export async function readStep(step: QueuedStep): Promise<{ loss: number; correct: number }> {
  const [loss, correct] = await step.values;
  tf.dispose([step.loss, step.correct]);
  return { loss: loss[0], correct: correct[0] };
}

/** One step, read back before returning. */
export async function trainStep(...args: Parameters<typeof queueTrainStep>): Promise<{ loss: number; correct: number }> {
  return readStep(queueTrainStep(...args));
}
