import { movingMean, readMlmRuns, readResults, readBenchmarks } from "../lib/book";

// The results chapter's readers, on the committed GPU results.

test("movingMean averages each window of values, shorter at the start", () => {
  expect(movingMean([1, 2, 3, 4, 10], 2)).toEqual([1, 1.5, 2.5, 3.5, 7]);
  expect(movingMean([4, 8], 5)).toEqual([4, 6]);
});

test("the stand-in's runs: five results, each naming its backbone, backend and how many epochs ran", () => {
  const runs = readResults("results/standin");
  expect(runs.map((r) => r.name).sort()).toEqual(["floor-full-random-init", "standin-full", "standin-last-layers", "standin-lora-qv-mlp-r8-a1", "standin-lora-qv-r8-a16"]);
  for (const r of runs) {
    expect(r.backend).toBe("webgpu");
    expect(r.backbone).toMatch(r.name.startsWith("floor") ? /random initialisation/ : /MLM-pretrained .* on the 35,000 IMDb training reviews only/);
    expect(r.epochs.length < r.config.train.epochs).toBe(r.stopped_for_time);
    // trainable counts of a 4 x 256 DistilBERT: the last layers are pre_classifier (256x256+256) and classifier (256x2+2)
    if (r.name === "standin-last-layers") expect(r.trainable_params).toBe(256 * 256 + 256 + 256 * 2 + 2);
    // LoRA r=8 on q and v of 4 layers: 4 * 2 * (256*8 + 8*256)
    if (r.name === "standin-lora-qv-r8-a16") expect(r.trainable_params).toBe(4 * 2 * 2 * 256 * 8);
  }
});

test("the MLM run behind the stand-in has a loss per step and its summary agrees with them", () => {
  const last = readMlmRuns().at(-1)!;
  expect(last.loss_by_step).toHaveLength(last.steps);
  const tail = last.loss_by_step.slice(-100);
  expect(tail.reduce((a, b) => a + b, 0) / tail.length).toBeCloseTo(last.last_100_steps_mean_loss, 3);
});

test("the GPU benchmark's latest run is the last line of its history", () => {
  const { latest, history } = readBenchmarks();
  expect(history.at(-1)).toEqual(latest);
  for (const row of latest.rows) expect(row.ratio_vs_torch_fp32).toBeCloseTo(row.ours_samples_per_second / row.torch_fp32_samples_per_second!, 10);
});
