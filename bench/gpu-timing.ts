import * as tf from "@tensorflow/tfjs";

// Wall-clock timing of one op on the webgpu backend, for the kernel sweeps.

interface Backend {
  endComputePassEncoder(): void;
  submitQueue(): void;
  device: { queue: { onSubmittedWorkDone(): Promise<void> } };
}

async function sync(): Promise<void> {
  const backend = tf.backend() as unknown as Backend;
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** ms per call of f: after 100 ms of warm-up, the best of five runs of 50 ms (the GPU machine's timings vary from run to run). */
export async function time(f: () => tf.Tensor): Promise<number> {
  const run = async (ms: number) => {
    const started = performance.now();
    let calls = 0;
    while (performance.now() - started < ms) {
      for (let i = 0; i < 5; i++) f().dispose();
      calls += 5;
      await sync();
    }
    return (performance.now() - started) / calls;
  };
  await run(100);
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await run(50));
  return Math.min(...runs);
}
