import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { parseSafetensors, readSafetensors } from "../../lib/io/safetensors";
import { loadAdapter } from "../../lib/lora/adapter";
import { DistilBertForSequenceClassification } from "../../lib/models/distilbert";
import { readAclImdb } from "../../lib/data/imdb-reader";
import { parseJsonl, toJsonl } from "../../lib/data/imdb-files";
import { decodeTokenCache, encodeTokenCache, tokenizeReviews } from "../../lib/data/token-cache";
import { mulberry32 } from "../../lib/nn/random";
import { useTestBackend } from "../helpers/backend";
import { fakeTokenizer, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// Random bytes and random mutations of valid files (bit flips, truncations, insertions, overwritten
// runs) fed to the readers: each case either loads or throws an Error whose message starts with the
// file's name; none hangs, crashes or leaks tensors. Every case is seeded (SEED + case number), so a
// failure names the case that reproduces it.

const SEED = 20240611;
/** FUZZ_SCALE=N runs N times the cases (new seeds after the usual ones), for a longer search. */
const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1) || 1);
const FIXTURES = path.join(__dirname, "..", "fixtures");
let tmp: string;
beforeAll(async () => {
  await useTestBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fuzz-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** One random change to `bytes`; `focus` bytes at the start (a header) take half of the changes. */
function mutate(bytes: Uint8Array, next: () => number, focus = bytes.length): { bytes: Uint8Array; how: string } {
  const at = (n: number) => (n <= 0 ? 0 : next() % 2 === 0 ? next() % Math.max(1, Math.min(focus, n)) : next() % n);
  const random = (n: number) => Uint8Array.from({ length: n }, () => next() & 0xff);
  const out = Uint8Array.from(bytes);
  switch (next() % 5) {
    case 0: {
      const flips = 1 + (next() % 8);
      for (let i = 0; i < flips && out.length > 0; i++) out[at(out.length)] ^= 1 << (next() % 8);
      return { bytes: out, how: `${flips} bit flips` };
    }
    case 1: {
      const length = at(bytes.length);
      return { bytes: bytes.slice(0, length), how: `truncated to ${length} bytes` };
    }
    case 2: {
      const where = at(bytes.length + 1);
      const inserted = random(1 + (next() % 16));
      return { bytes: new Uint8Array([...bytes.subarray(0, where), ...inserted, ...bytes.subarray(where)]), how: `${inserted.length} bytes inserted at ${where}` };
    }
    case 3: {
      const where = at(out.length);
      const run = random(Math.min(1 + (next() % 32), out.length - where));
      out.set(run, where);
      return { bytes: out, how: `${run.length} bytes overwritten at ${where}` };
    }
    default: {
      const length = next() % (2 * bytes.length + 1);
      return { bytes: random(length), how: `${length} random bytes` };
    }
  }
}

/** Run `attempt`; it must succeed or throw an Error whose message starts with `name`. */
async function expectLoadsOrNames(label: string, name: string, attempt: () => unknown): Promise<"loaded" | "refused"> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${label}: still running after 5 s`)), 5000)));
  try {
    await Promise.race([Promise.resolve().then(attempt), hang]);
    return "loaded";
  } catch (error) {
    if (!(error instanceof Error)) throw new Error(`${label}: threw a non-Error ${String(error)}`);
    if (!error.message.startsWith(name)) throw new Error(`${label}: the error does not start with ${name}: ${error.name}: ${error.message}`);
    return "refused";
  } finally {
    clearTimeout(timer);
  }
}

const headerEnd = (bytes: Uint8Array) => 8 + Number(Buffer.from(bytes).readBigUInt64LE(0));

test("the safetensors reader: 240 mutated files and random bytes", async () => {
  const sources = [path.join(FIXTURES, "safetensors", "mixed.safetensors"), path.join(FIXTURES, "peft-tiny-qv", "adapter_model.safetensors")];
  const outcomes = { loaded: 0, refused: 0 };
  for (let i = 0; i < 240 * SCALE; i++) {
    const next = mulberry32(SEED + i);
    const source = fs.readFileSync(sources[i % sources.length]);
    const { bytes, how } = mutate(source, next, headerEnd(source));
    const label = `safetensors case ${i} (seed ${SEED + i}, ${how})`;
    if (i % 4 === 0) {
      const file = path.join(tmp, `case-${i}.safetensors`);
      fs.writeFileSync(file, bytes);
      outcomes[await expectLoadsOrNames(label, `${file}: `, () => readSafetensors(file))]++;
    } else {
      outcomes[await expectLoadsOrNames(label, `case-${i}: `, () => parseSafetensors(bytes, `case-${i}`))]++;
    }
  }
  expect(outcomes.refused).toBeGreaterThan(100);
  expect(outcomes.loaded).toBeGreaterThan(10); // flips in tensor data still read
});

test("the adapter loader: 100 mutated adapters; a refusal changes no tensor count", async () => {
  const from = path.join(FIXTURES, "peft-tiny-qv");
  const weights = fs.readFileSync(path.join(from, "adapter_model.safetensors"));
  const config = fs.readFileSync(path.join(from, "adapter_config.json"));
  let model = DistilBertForSequenceClassification.fromPretrained(path.join(FIXTURES, "distilbert-tiny"), { log: () => undefined });
  const outcomes = { loaded: 0, refused: 0 };
  for (let i = 0; i < 100 * SCALE; i++) {
    const next = mulberry32(SEED + 1_000_000 + i);
    const dir = path.join(tmp, `adapter-${i}`);
    fs.mkdirSync(dir);
    const mutateConfig = next() % 3 === 0;
    const changed = mutateConfig ? mutate(config, next) : mutate(weights, next, headerEnd(weights));
    fs.writeFileSync(path.join(dir, "adapter_model.safetensors"), mutateConfig ? weights : changed.bytes);
    fs.writeFileSync(path.join(dir, "adapter_config.json"), mutateConfig ? changed.bytes : config);
    const label = `adapter case ${i} (seed ${SEED + 1_000_000 + i}, ${mutateConfig ? "config" : "weights"} ${changed.how})`;
    const before = tf.memory().numTensors;
    const outcome = await expectLoadsOrNames(label, dir, () => loadAdapter(model, dir));
    outcomes[outcome]++;
    if (outcome === "refused") {
      expect([label, tf.memory().numTensors]).toEqual([label, before]);
    } else {
      // loaded: exactly the LoRA factors were added; start again from a fresh base model
      expect([label, tf.memory().numTensors - before]).toEqual([label, 2 * 4]);
      model.dispose();
      model = DistilBertForSequenceClassification.fromPretrained(path.join(FIXTURES, "distilbert-tiny"), { log: () => undefined });
    }
  }
  model.dispose();
  expect(outcomes.refused).toBeGreaterThan(40);
});

test("the IMDb archive reader: 60 mutated archives (compressed and not) and random bytes", async () => {
  const archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 3, extras: false });
  const gz = fs.readFileSync(archive);
  const tar = zlib.gunzipSync(gz);
  const outcomes = { loaded: 0, refused: 0 };
  for (let i = 0; i < 60 * SCALE; i++) {
    const next = mulberry32(SEED + 2_000_000 + i);
    // Mutating the tar inside the gzip reaches the tar parser; mutating the gzip reaches zlib.
    const inner = i % 3 !== 0;
    const { bytes, how } = inner ? mutate(tar, next, 512) : mutate(gz, next);
    const file = path.join(tmp, `archive-${i}.tar.gz`);
    fs.writeFileSync(file, inner ? zlib.gzipSync(bytes) : bytes);
    const label = `archive case ${i} (seed ${SEED + 2_000_000 + i}, ${inner ? "tar" : "gzip"} ${how})`;
    outcomes[await expectLoadsOrNames(label, `${file}: `, () => readAclImdb(file))]++;
  }
  expect(outcomes.refused).toBeGreaterThan(20);
});

test("the split and token-cache readers: 80 mutated JSONL splits and caches", async () => {
  const reviews = [
    { text: "A fine film, “quoted” and naïve 🎬", label: 1 as const },
    { text: "Dull <br /><br /> and \\ slow", label: 0 as const },
    { text: "Middling.", label: 1 as const },
  ];
  const jsonl = Buffer.from(toJsonl(reviews));
  const cache = Buffer.concat(encodeTokenCache(tokenizeReviews(reviews, fakeTokenizer(), 16, false), "val", "0".repeat(64)));
  for (let i = 0; i < 80 * SCALE; i++) {
    const next = mulberry32(SEED + 3_000_000 + i);
    if (i % 2 === 0) {
      const { bytes, how } = mutate(jsonl, next);
      await expectLoadsOrNames(`jsonl case ${i} (seed ${SEED + 3_000_000 + i}, ${how})`, "val.jsonl", () => parseJsonl(bytes, "val.jsonl"));
    } else {
      const { bytes, how } = mutate(cache, next, 8 + cache.readUInt32LE(4));
      await expectLoadsOrNames(`cache case ${i} (seed ${SEED + 3_000_000 + i}, ${how})`, "val.bin: ", () => decodeTokenCache(Buffer.from(bytes), "val.bin"));
    }
  }
});
