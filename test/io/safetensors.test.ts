import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { readSafetensors, readSafetensorsDir, writeSafetensors, assertSafetensorsDir, WritableEntry } from "../../lib/io/safetensors";
import { toTensor, fromTensor } from "../../lib/io/safetensors-tfjs";
import { useTestBackend } from "../helpers/backend";

// Files written by Python's safetensors (see fixtures/safetensors/make_fixtures.py), files built
// byte by byte here, and every way a file can be broken.

const FIXTURES = path.join(__dirname, "..", "fixtures", "safetensors");
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, "expected.json"), "utf8"));

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "safetensors-test-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file from a header (object, or raw text) and data bytes; `pad` spaces after the JSON. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), pad = 0): Buffer {
  const json = Buffer.from((typeof header === "string" ? header : JSON.stringify(header)) + " ".repeat(pad));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

let count = 0;
/** Write bytes to a fresh file in tmp and return its path. */
function save(bytes: Uint8Array): string {
  const file = path.join(tmp, `case-${count++}.safetensors`);
  fs.writeFileSync(file, bytes);
  return file;
}

const u16 = (...xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);
const values = (data: ArrayLike<number>) => Array.from(data);

describe("files written by Python's safetensors", () => {
  test("mixed.safetensors: every supported dtype decodes to the values Python wrote", () => {
    const file = readSafetensors(path.join(FIXTURES, "mixed.safetensors"));
    expect(file.metadata).toEqual({ format: "pt" });
    const want = expected["mixed.safetensors"];
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(want).sort());
    for (const [name, entry] of file.tensors) {
      expect({ name, shape: entry.shape, values: values(entry.data) }).toEqual({ name, ...want[name] });
    }
    const dtypes = Object.fromEntries([...file.tensors].map(([n, e]) => [n, `${e.dtype}->${e.data.constructor.name}`]));
    expect(dtypes).toEqual({
      "embeddings.weight": "F32->Float32Array",
      half: "F16->Float32Array",
      brain: "BF16->Float32Array",
      ids: "I64->Int32Array",
      int32: "I32->Int32Array",
      bytes: "U8->Uint8Array",
      mask: "BOOL->Uint8Array",
      empty: "F32->Float32Array",
    });
  });

  test("writeSafetensors gives the same bytes as Python for the same tensors", async () => {
    const python = path.join(FIXTURES, "writable.safetensors");
    const tensors = new Map<string, WritableEntry>();
    // Insertion order deliberately differs from the file's: the writer must sort as Python does.
    for (const [name, entry] of [...readSafetensors(python).tensors].reverse()) {
      const data = entry.data instanceof Float32Array ? Float32Array.from(entry.data) : entry.data.slice();
      tensors.set(name, { dtype: entry.dtype as WritableEntry["dtype"], shape: entry.shape, data });
    }
    const ours = path.join(tmp, "writable.safetensors");
    await writeSafetensors(ours, tensors, { format: "pt" });
    expect(fs.readFileSync(ours).equals(fs.readFileSync(python))).toBe(true);
  });
});

describe("hand-built bytes decode to hand-computed float32 values", () => {
  test("F32: 1, -2.5, 65504, 1e-3, NaN, ±Inf", () => {
    const data = new Float32Array([1, -2.5, 65504, 1e-3, NaN, Infinity, -Infinity]);
    const file = save(build({ x: { dtype: "F32", shape: [7], data_offsets: [0, 28] } }, new Uint8Array(data.buffer)));
    expect(values(readSafetensors(file).tensors.get("x")!.data)).toEqual([1, -2.5, 65504, 0.0010000000474974513, NaN, Infinity, -Infinity]);
  });

  test("F16: normals, max, subnormals, ±0, NaN, ±Inf", () => {
    // bits: 1.0, -2.5, 65504 (max), ~1e-3, 2^-24 (least subnormal), 1023*2^-24 (largest subnormal),
    // 2^-14 (least normal), -0, NaN, +Inf, -Inf
    const bits = u16(0x3c00, 0xc100, 0x7bff, 0x1419, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7e00, 0x7c00, 0xfc00);
    const file = save(build({ h: { dtype: "F16", shape: [11], data_offsets: [0, 22] } }, bits));
    expect(values(readSafetensors(file).tensors.get("h")!.data)).toEqual([
      1, -2.5, 65504, 0.0010004043579101562, 5.960464477539063e-8, 6.097555160522461e-5, 6.103515625e-5, -0, NaN, Infinity, -Infinity,
    ]);
  });

  test("BF16: the top half of float32 bits, subnormals included", () => {
    // bits: 1.0, -2.5, 3.140625, ~1e-3, 65280 (0x477f), 2^-133 (least subnormal), NaN, +Inf, -Inf
    const bits = u16(0x3f80, 0xc020, 0x4049, 0x3a83, 0x477f, 0x0001, 0x7fc0, 0x7f80, 0xff80);
    const file = save(build({ b: { dtype: "BF16", shape: [3, 3], data_offsets: [0, 18] } }, bits));
    const entry = readSafetensors(file).tensors.get("b")!;
    expect(entry.shape).toEqual([3, 3]);
    expect(values(entry.data)).toEqual([1, -2.5, 3.140625, 0.00099945068359375, 65280, 9.183549615799121e-41, NaN, Infinity, -Infinity]);
  });

  test("I64 within int32 range becomes Int32Array; header padding and __metadata__ are read", () => {
    const data = new Uint8Array(new BigInt64Array([0n, -1n, 2147483647n, -2147483648n]).buffer);
    const header = { __metadata__: { format: "pt" }, i: { dtype: "I64", shape: [2, 2], data_offsets: [0, 32] } };
    const file = save(build(header, data, 5));
    const read = readSafetensors(file);
    expect(read.metadata).toEqual({ format: "pt" });
    expect(read.tensors.get("i")!.data).toEqual(new Int32Array([0, -1, 2147483647, -2147483648]));
  });

  test("a tensor at an odd offset is copied into alignment, not misread", () => {
    const data = new Uint8Array(8);
    data[0] = 7; // u8 tensor at byte 0
    new DataView(data.buffer).setFloat32(1, -2.5, true); // f32 at byte 1 (unaligned)
    const header = { a: { dtype: "U8", shape: [1], data_offsets: [0, 1] }, b: { dtype: "F32", shape: [1], data_offsets: [1, 5] }, c: { dtype: "U8", shape: [3], data_offsets: [5, 8] } };
    const read = readSafetensors(save(build(header, data)));
    expect(values(read.tensors.get("b")!.data)).toEqual([-2.5]);
  });
});

describe("writing", () => {
  test("round trip: F32, I32, I64, U8, BOOL, metadata; header padded to 8 bytes; no temp file left", async () => {
    const tensors: Record<string, WritableEntry> = {
      "layer.1.weight": { dtype: "F32", shape: [2, 3], data: new Float32Array([0.1, -0.2, 0.3, 1e-30, 3e38, -0]) },
      "layer.0.weight": { dtype: "F32", shape: [1], data: new Float32Array([42]) },
      labels: { dtype: "I32", shape: [3], data: new Int32Array([-5, 0, 2147483647]) },
      position_ids: { dtype: "I64", shape: [1, 3], data: new Int32Array([0, -1, -2147483648]) },
      flags: { dtype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) },
      pixels: { dtype: "U8", shape: [2], data: new Uint8Array([0, 255]) },
    };
    const file = path.join(tmp, "round", "trip.safetensors");
    await writeSafetensors(file, tensors, { format: "pt", note: "é" });
    expect(fs.readdirSync(path.dirname(file))).toEqual(["trip.safetensors"]);
    const bytes = fs.readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString());
    expect(Object.keys(header)).toEqual(["__metadata__", "position_ids", "layer.0.weight", "layer.1.weight", "labels", "pixels", "flags"]);

    const read = readSafetensors(file);
    expect(read.metadata).toEqual({ format: "pt", note: "é" });
    for (const [name, entry] of Object.entries(tensors)) {
      expect(read.tensors.get(name)).toEqual({ ...entry, data: entry.data });
    }
  });

  test("writer refuses data that does not match its dtype or shape, naming the file and tensor", async () => {
    const file = path.join(tmp, "bad-write.safetensors");
    await expect(writeSafetensors(file, { w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } })).rejects.toThrow(
      `writing tensor "w" to ${file}: shape [2,2] needs 4 values, got 3`,
    );
    await expect(writeSafetensors(file, { w: { dtype: "F32", shape: [1], data: new Int32Array(1) } })).rejects.toThrow(
      `writing tensor "w" to ${file}: F32 data must be a Float32Array`,
    );
    await expect(writeSafetensors(file, { w: { dtype: "F16" as never, shape: [1], data: new Float32Array(1) } })).rejects.toThrow(
      "dtype F16 cannot be written (only I64, F32, I32, BF16, U8, BOOL)",
    );
    expect(fs.existsSync(file)).toBe(false);
  });

  test("toTensor / fromTensor carry values, shapes and dtypes to and from tfjs", async () => {
    await useTestBackend("cpu");
    const read = readSafetensors(path.join(FIXTURES, "mixed.safetensors"));
    const dtypes: Record<string, string> = {};
    for (const [name, entry] of read.tensors) {
      const t = toTensor(entry);
      dtypes[name] = t.dtype;
      expect(t.shape).toEqual(entry.shape);
      expect(values(t.dataSync())).toEqual(values(entry.data));
      t.dispose();
    }
    expect(dtypes).toEqual({ ids: "int32", "embeddings.weight": "float32", empty: "float32", int32: "int32", brain: "float32", half: "float32", bytes: "int32", mask: "bool" });
    const t = tf.tensor([[1.5, -2], [0, 3]]);
    const entry = fromTensor(t);
    expect(entry).toEqual({ dtype: "F32", shape: [2, 2], data: new Float32Array([1.5, -2, 0, 3]) });
    entry.data[0] = 99; // a copy: the tensor is unchanged
    expect(values(t.dataSync())).toEqual([1.5, -2, 0, 3]);
    expect(fromTensor(tf.tensor([1, 2], [2], "int32")).dtype).toBe("I32");
    expect(() => fromTensor(tf.complex([1], [2]))).toThrow("a complex64 tensor cannot be written");
  });
});

describe("checkpoint folders", () => {
  const writeShards = async (dir: string, weightMap: Record<string, string>) => {
    fs.mkdirSync(dir, { recursive: true });
    await writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), { "a.weight": { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } }, { format: "pt" });
    await writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), {
      "b.weight": { dtype: "F32", shape: [1], data: new Float32Array([3]) },
      "b.bias": { dtype: "F32", shape: [1], data: new Float32Array([4]) },
    }, { format: "pt" });
    const index = path.join(dir, "model.safetensors.index.json");
    fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: 16 }, weight_map: weightMap }));
    return index;
  };
  const goodMap = { "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors", "b.bias": "model-00002-of-00002.safetensors" };

  test("a sharded checkpoint is merged into one map", async () => {
    const dir = path.join(tmp, "sharded");
    await writeShards(dir, goodMap);
    const read = readSafetensorsDir(dir);
    expect(read.metadata).toEqual({ format: "pt" });
    expect(Object.fromEntries([...read.tensors].map(([n, e]) => [n, values(e.data)]))).toEqual({ "a.weight": [1, 2], "b.bias": [4], "b.weight": [3] });
  });

  test("a single model.safetensors folder is read", async () => {
    const dir = path.join(tmp, "single");
    await writeSafetensors(path.join(dir, "model.safetensors"), { w: { dtype: "F32", shape: [1], data: new Float32Array([5]) } });
    expect(values(readSafetensorsDir(dir).tensors.get("w")!.data)).toEqual([5]);
    expect(assertSafetensorsDir(dir)).toEqual({ kind: "single", file: path.join(dir, "model.safetensors") });
  });

  test("an index naming a missing shard", async () => {
    const dir = path.join(tmp, "missing-shard");
    const index = await writeShards(dir, { ...goodMap, "c.weight": "model-00003-of-00003.safetensors" });
    expect(() => readSafetensorsDir(dir)).toThrow(`${index}: names shard model-00003-of-00003.safetensors (for 1 tensors, e.g. "c.weight"), which is missing from ${dir}`);
  });

  test("an index placing a tensor in the wrong shard, or leaving one out", async () => {
    const dir = path.join(tmp, "wrong-shard");
    const index = await writeShards(dir, { ...goodMap, "b.bias": "model-00001-of-00002.safetensors" });
    const shard1 = path.join(dir, "model-00001-of-00002.safetensors");
    expect(() => readSafetensorsDir(dir)).toThrow(`${shard1}: has no tensor "b.bias", which ${index} places there`);
    const dir2 = path.join(tmp, "unlisted");
    const index2 = await writeShards(dir2, { "a.weight": goodMap["a.weight"], "b.weight": goodMap["b.weight"] });
    expect(() => readSafetensorsDir(dir2)).toThrow(`holds tensor "b.bias", which ${index2} does not place there`);
  });

  test("a shard path that leaves the folder is refused", async () => {
    const dir = path.join(tmp, "escape");
    const index = await writeShards(dir, { ...goodMap, "a.weight": "../model-00001-of-00002.safetensors" });
    expect(() => readSafetensorsDir(dir)).toThrow(`${index}: weight_map gives tensor "a.weight" the shard "../model-00001-of-00002.safetensors", not a file name`);
  });

  test("a folder with only pytorch_model.bin says how to convert it", () => {
    const dir = path.join(tmp, "pytorch-only");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "pytorch_model.bin"), "not read");
    fs.writeFileSync(path.join(dir, "config.json"), "{}");
    expect(() => readSafetensorsDir(dir)).toThrow(
      `${dir}: contains pytorch_model.bin but no model.safetensors: this library reads only safetensors; ` +
        "convert it with transformers (model.save_pretrained(dir, safe_serialization=True))",
    );
  });

  test("an empty folder, and one that does not exist", () => {
    const dir = path.join(tmp, "empty");
    fs.mkdirSync(dir);
    expect(() => readSafetensorsDir(dir)).toThrow(`${dir}: has no model.safetensors or model.safetensors.index.json (found: nothing)`);
    expect(() => readSafetensorsDir(path.join(tmp, "nope"))).toThrow(`${path.join(tmp, "nope")}: cannot read the folder`);
  });
});

describe("broken files: the error names the file and the problem", () => {
  const f32 = (n: number) => new Uint8Array(4 * n);
  const cases: [string, () => Buffer, string][] = [
    ["shorter than 8 bytes", () => Buffer.from([1, 2, 3]), "file is 3 bytes, shorter than the 8-byte header length"],
    ["header length larger than the file", () => build({}).fill(0xff, 0, 8), "header length 18446744073709551615 is larger than the file (10 bytes)"],
    ["header not JSON", () => build("{not json"), "header is not valid JSON"],
    ["header not UTF-8", () => build("{\"\xff\":1}").fill(0xff, 10, 11), "header is not valid JSON"],
    ["header not an object", () => build([1, 2]), "header is not a JSON object"],
    ["entry not an object", () => build({ x: 5 }), `tensor "x" is not an object`],
    ["missing dtype", () => build({ x: { shape: [1], data_offsets: [0, 4] } }, f32(1)), `tensor "x" has no dtype`],
    ["missing shape", () => build({ x: { dtype: "F32", data_offsets: [0, 4] } }, f32(1)), `tensor "x" has no shape`],
    ["missing data_offsets", () => build({ x: { dtype: "F32", shape: [1] } }, f32(1)), `tensor "x" has no data_offsets`],
    ["bad shape", () => build({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)), `tensor "x" has shape [-1], not a list of sizes`],
    ["bad offsets", () => build({ x: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, f32(1)), `tensor "x" has data_offsets [4,0], not [begin, end]`],
    ["unsupported dtype", () => build({ x: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, f32(1)), `tensor "x" has dtype F8_E4M3, which this reader does not support (supported: F64, F32, F16, BF16, I64, I32, U8, BOOL)`],
    ["dtype named like an Object method", () => build({ x: { dtype: "toString", shape: [1], data_offsets: [0, 4] } }, f32(1)), `tensor "x" has dtype toString, which this reader does not support`],
    ["size not shape × dtype", () => build({ x: { dtype: "F32", shape: [2, 2], data_offsets: [0, 12] } }, f32(3)), `tensor "x" has data_offsets [0, 12] (12 bytes) but shape [2,2] of F32 needs 16 bytes`],
    ["offsets past the data", () => build({ x: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, f32(2)), `tensor "x" has data_offsets [4, 12], past the end of the data (8 bytes): file truncated?`],
    ["truncated data", () => build({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32(4)).subarray(0, -3), "past the end of the data (13 bytes): file truncated?"],
    ["overlapping tensors", () => build({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)), `tensor "b" (bytes 4..8) overlaps tensor "a" (which ends at 8)`],
    ["a gap between tensors", () => build({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } }, f32(3)), `tensor "b" starts at byte 8, leaving a gap after byte 4`],
    ["bytes after the last tensor", () => build({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(2)), "4 bytes after the last tensor are not described by the header"],
    ["metadata not strings", () => build({ __metadata__: { epoch: 3 } }), `"__metadata__" value "epoch" is not a string`],
    ["I64 beyond int32", () => build({ i: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new BigInt64Array([1n, 2n ** 31n]).buffer)), `tensor "i": I64 value 2147483648 at index 1 does not fit in int32`],
  ];
  test.each(cases)("%s", (_, make, problem) => {
    const file = save(make());
    expect(() => readSafetensors(file)).toThrow(`${file}: `);
    expect(() => readSafetensors(file)).toThrow(problem);
  });

  test("a file that does not exist", () => {
    const file = path.join(tmp, "absent.safetensors");
    expect(() => readSafetensors(file)).toThrow(`${file}: cannot read the file (ENOENT`);
  });
});
