// Run by test/wasm-threads.test.ts in a fresh process (a process keeps the wasm build it started
// with): one training step of a small network on the wasm backend with the given thread count,
// printed as JSON. The process must end by itself: pool threads must not keep it alive.
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend";

(async () => {
  const info = await initBackend("wasm", { quiet: true, wasmThreads: Number(process.argv[2]) });
  const x = tf.randomNormal([64, 256], 0, 1, "float32", 1);
  const w1 = tf.variable(tf.randomNormal([256, 512], 0, 0.05, "float32", 2));
  const w2 = tf.variable(tf.randomNormal([512, 8], 0, 0.05, "float32", 3));
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.matMul(tf.relu(tf.matMul(x, w1)), w2))));
  const gradSums = await Promise.all(Object.values(grads).map(async (g) => Array.from(await tf.abs(g).sum().data())[0]));
  console.log(JSON.stringify({ device: info.device, loss: (await value.data())[0], gradSums }));
})();
