import * as tf from "@tensorflow/tfjs";
import type { SafetensorsEntry, WritableEntry } from "./safetensors";

// Between safetensors entries (plain typed arrays) and tf.Tensors. Kept apart from the reader so
// reading a checkpoint needs no tfjs.

/** A new tf.Tensor with the entry's values: float32, int32, or bool for BOOL (tfjs has no uint8: U8 becomes int32). */
export function toTensor(entry: SafetensorsEntry): tf.Tensor {
  const { dtype, shape, data } = entry;
  if (data instanceof Float32Array) return tf.tensor(data, shape, "float32");
  if (data instanceof Int32Array) return tf.tensor(data, shape, "int32");
  return tf.tensor(data, shape, dtype === "BOOL" ? "bool" : "int32");
}

/** The tensor's values as an entry writeSafetensors takes: F32, I32 or BOOL. Reads the data synchronously. */
export function fromTensor(tensor: tf.Tensor): WritableEntry {
  // Copied: on the cpu backend dataSync() hands out the tensor's own storage.
  const shape = tensor.shape.slice();
  switch (tensor.dtype) {
    case "float32":
      return { dtype: "F32", shape, data: Float32Array.from(tensor.dataSync() as Float32Array) };
    case "int32":
      return { dtype: "I32", shape, data: Int32Array.from(tensor.dataSync() as Int32Array) };
    case "bool":
      return { dtype: "BOOL", shape, data: Uint8Array.from(tensor.dataSync() as Uint8Array) };
    default:
      throw new Error(`fromTensor: a ${tensor.dtype} tensor cannot be written to safetensors (float32, int32 and bool can)`);
  }
}
