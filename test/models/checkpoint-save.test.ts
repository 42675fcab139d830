import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { toBfloat16, writeSafetensors, readSafetensors } from "../../lib/io/safetensors";
import { DistilBertForSequenceClassification, distilBertConfig } from "../../lib/models/distilbert";
import { manualSeed } from "../../lib/nn/random";
import { useTestBackend } from "../helpers/backend";

beforeAll(async () => {
  await useTestBackend();
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "save-"));

test("toBfloat16 rounds to nearest, ties to even, as torch does", () => {
  const bits = toBfloat16(Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, Infinity, NaN, 1 + 2 ** -8 + 2 ** -20]));
  // 1 + 2^-8 is halfway between 0x3f80 and 0x3f81: to the even one; 1 + 3 * 2^-8 halfway between 0x3f81 and 0x3f82: 0x3f82.
  expect(Array.from(bits)).toEqual([0x3f80, 0x3f80, 0x3f82, 0xc020, 0x7f80, 0x7fc0, 0x3f81]);
});

test("BF16 tensors written here read back as the rounded float32 values", async () => {
  const dir = tmp();
  const values = Float32Array.from([0.1, -3.14159, 65504, 1e-30]);
  await writeSafetensors(path.join(dir, "x.safetensors"), { x: { dtype: "BF16", shape: [2, 2], data: toBfloat16(values) } });
  const entry = readSafetensors(path.join(dir, "x.safetensors")).tensors.get("x")!;
  expect(entry.dtype).toBe("BF16");
  const expected = Float32Array.from(toBfloat16(values), (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
  expect(Array.from(entry.data)).toEqual(Array.from(expected));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("saving in shards", () => {
  let model: DistilBertForSequenceClassification;
  let totalBytes = 0;
  beforeAll(() => {
    manualSeed(2);
    model = new DistilBertForSequenceClassification(distilBertConfig({ vocabSize: 300, maxPositionEmbeddings: 64, dim: 32, nLayers: 2, nHeads: 2, hiddenDim: 64 }));
    totalBytes = model.namedParameters().reduce((n, [, p]) => n + 4 * p.size, 0);
  });
  const weights = () => new Map(model.namedParameters().map(([name, p]) => [name, Float32Array.from(p.dataSync() as Float32Array)]));

  test("shards of at most the given size, an index transformers reads, and the same weights back", async () => {
    const dir = tmp();
    const limit = Math.ceil(totalBytes / 3);
    await model.save(dir, { maxShardBytes: limit });
    const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
    const shards = [...new Set(Object.values(index.weight_map as Record<string, string>))].sort();
    expect(shards.length).toBeGreaterThanOrEqual(3);
    expect(shards[0]).toBe(`model-00001-of-${String(shards.length).padStart(5, "0")}.safetensors`);
    expect(index.metadata.total_size).toBe(totalBytes);
    for (const shard of shards) {
      const file = readSafetensors(path.join(dir, shard));
      const bytes = [...file.tensors.values()].reduce((n, t) => n + 4 * t.data.length, 0);
      expect(bytes <= limit || file.tensors.size === 1).toBe(true);
    }
    expect(fs.existsSync(path.join(dir, "model.safetensors"))).toBe(false);
    const loaded = DistilBertForSequenceClassification.fromPretrained(dir, { log: () => {} });
    const original = weights();
    for (const [name, p] of loaded.namedParameters()) expect(Array.from(p.dataSync())).toEqual(Array.from(original.get(name)!));
    // Saving again as one file removes the shards and their index.
    await model.save(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
    loaded.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("bf16 halves the files and loads within bfloat16's precision", async () => {
    const dir = tmp();
    await model.save(dir, { dtype: "BF16" });
    const size = fs.statSync(path.join(dir, "model.safetensors")).size;
    expect(size).toBeLessThan(totalBytes / 2 + 20_000); // half, plus the header
    const loaded = DistilBertForSequenceClassification.fromPretrained(dir, { log: () => {} });
    const original = weights();
    for (const [name, p] of loaded.namedParameters()) {
      const values = p.dataSync();
      original.get(name)!.forEach((v, i) => expect(Math.abs(values[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8 + 1e-30));
    }
    loaded.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
