
// The safetensors format (https://github.com/huggingface/safetensors), as plain data:
//   [8 bytes: N, u64 little-endian][N bytes: JSON header, padded with spaces][data]
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets count
// from the first data byte) plus an optional "__metadata__": {string: string}. The tensors must
// tile the data exactly: no gaps, no overlaps, nothing after the last one.
// Numbers are little-endian, like every machine Node.js and the browsers run on, so F32/I32 data is
// read in place. This file is the format alone, on bytes in memory (a web page uses it as it is);
// reading and writing files is safetensors.ts.

/** One tensor as read: `dtype` is the file's, `data` is converted (floats to float32, ints to int32). */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  /** In the file's order (by data offset). */
  tensors: Map<string, SafetensorsEntry>;
}

/** The dtypes this library writes, and the typed array each takes (I64 is written from int32 values). */
export type WritableDtype = "F32" | "BF16" | "I32" | "I64" | "U8" | "BOOL";
export interface WritableEntry {
  dtype: WritableDtype;
  shape: number[];
  /** BF16: the 16-bit patterns in a Uint16Array (toBfloat16 makes them). */
  data: Float32Array | Uint16Array | Int32Array | Uint8Array;
}

/** Bytes per element of each dtype the reader supports. */
const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };
const SUPPORTED = Object.keys(BYTES).join(", ");

/** A problem with a safetensors file or folder; the message starts with its path. */
export class SafetensorsError extends Error {
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}`);
    this.name = "SafetensorsError";
  }
}

/** Decode safetensors bytes; `where` names the source in error messages. */
export function parseSafetensors(bytes: Uint8Array, where = "<bytes>"): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new SafetensorsError(where, problem);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} is larger than the file (${bytes.length} bytes): not a safetensors file, or truncated`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    fail(`header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const data = bytes.subarray(dataStart);

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`"__metadata__" is not an object`);
      for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
        if (typeof text !== "string") fail(`"__metadata__" value "${key}" is not a string`);
        metadata[key] = text as string;
      }
      continue;
    }
    entries.push(checkEntry(name, value, data.length, fail));
  }

  // Tiling, checked as the Rust library checks it: sorted by offset, each starts where the last ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let previous = { name: "", end: 0 };
  for (const e of entries) {
    if (e.begin < previous.end) {
      fail(`tensor "${e.name}" (bytes ${e.begin}..${e.end}) overlaps tensor "${previous.name}" (which ends at ${previous.end})`);
    }
    if (e.begin > previous.end) fail(`tensor "${e.name}" starts at byte ${e.begin}, leaving a gap after byte ${previous.end}`);
    previous = e;
  }
  if (previous.end !== data.length) fail(`${data.length - previous.end} bytes after the last tensor are not described by the header`);

  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) {
    const convert = (problem: string): never => fail(`tensor "${e.name}": ${problem}`);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeData(data.subarray(e.begin, e.end), e.dtype, convert) });
  }
  return { metadata, tensors };
}

/** Validate one header entry against the data length. */
function checkEntry(name: string, value: unknown, dataLength: number, fail: (problem: string) => never) {
  const tensor = `tensor "${name}"`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${tensor} is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  for (const [field, x] of [["dtype", dtype], ["shape", shape], ["data_offsets", offsets]] as const) {
    if (x === undefined) fail(`${tensor} has no ${field}`);
  }
  if (typeof dtype !== "string") fail(`${tensor} has dtype ${JSON.stringify(dtype)}, not a string`);
  if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${tensor} has shape ${JSON.stringify(shape)}, not a list of sizes`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(`${tensor} has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with 0 <= begin <= end`);
  }
  const bytesPer = Object.hasOwn(BYTES, dtype as string) ? BYTES[dtype as string] : undefined;
  if (bytesPer === undefined) fail(`${tensor} has dtype ${dtype}, which this reader does not support (supported: ${SUPPORTED})`);
  const [begin, end] = offsets as number[];
  const needed = (shape as number[]).reduce((a, b) => a * b, 1) * bytesPer;
  if (end - begin !== needed) {
    fail(`${tensor} has data_offsets [${begin}, ${end}] (${end - begin} bytes) but shape [${shape}] of ${dtype} needs ${needed} bytes`);
  }
  if (end > dataLength) {
    fail(`${tensor} has data_offsets [${begin}, ${end}], past the end of the data (${dataLength} bytes): file truncated?`);
  }
  return { name, dtype: dtype as string, shape: shape as number[], begin, end };
}

/** A JSON value that can be a size or an offset. */
function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** Raw little-endian bytes of one tensor to a typed array, converted where tfjs needs it. */
function decodeData(raw: Uint8Array, dtype: string, fail: (problem: string) => never): Float32Array | Int32Array | Uint8Array {
  switch (dtype) {
    case "F32":
      return view(raw, Float32Array);
    case "I32":
      return view(raw, Int32Array);
    case "U8":
    case "BOOL":
      return view(raw, Uint8Array); // a plain Uint8Array, not the file's Buffer
    case "F64":
      return Float32Array.from(view(raw, Float64Array));
    case "F16": {
      const halves = view(raw, Uint16Array);
      const table = f16Table();
      const out = new Float32Array(halves.length);
      for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
      return out;
    }
    case "BF16": {
      // bfloat16 is the top half of a float32: shift the 16 bits up, the low mantissa bits are 0.
      const halves = view(raw, Uint16Array);
      const bits = new Uint32Array(halves.length);
      for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "I64": {
      // Each value is (low, high) int32 words; it fits in int32 when high is low's sign extension.
      const words = view(raw, Int32Array);
      const out = new Int32Array(words.length / 2);
      for (let i = 0; i < out.length; i++) {
        const low = words[2 * i];
        if (words[2 * i + 1] !== low >> 31) {
          const value = new DataView(raw.buffer, raw.byteOffset + 8 * i, 8).getBigInt64(0, true);
          fail(`I64 value ${value} at index ${i} does not fit in int32, which is all tfjs has`);
        }
        out[i] = low;
      }
      return out;
    }
  }
  return fail(`dtype ${dtype} is not supported (supported: ${SUPPORTED})`);
}

type ArrayType<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** `raw` seen as elements of `Type`: in place when its offset allows it, else from an aligned copy. */
function view<T>(raw: Uint8Array, Type: ArrayType<T>): T {
  const size = Type.BYTES_PER_ELEMENT;
  const bytes = raw.byteOffset % size === 0 ? raw : new Uint8Array(raw); // a copy (Buffer.slice would not copy)
  return new Type(bytes.buffer, bytes.byteOffset, bytes.length / size);
}

/** float16 bit pattern -> float32 value, for all 65,536 patterns; built on first use (256 KB). */
let f16Values: Float32Array | null = null;
function f16Table(): Float32Array {
  if (f16Values) return f16Values;
  f16Values = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    f16Values[h] =
      exponent === 0 ? sign * mantissa * 2 ** -24 // zero and subnormals
      : exponent === 31 ? (mantissa ? NaN : sign * Infinity)
      : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return f16Values;
}
/** Rank in the Rust library's write order: larger dtypes first (keeps data aligned), then by name. */
const WRITE_RANK: Record<WritableDtype, number> = { I64: 0, F32: 1, I32: 2, BF16: 3, U8: 4, BOOL: 5 };
const ARRAY_OF: Record<WritableDtype, Function> = { F32: Float32Array, BF16: Uint16Array, I32: Int32Array, I64: Int32Array, U8: Uint8Array, BOOL: Uint8Array };

/** float32 values as bfloat16 bit patterns, rounded to nearest even, as torch's .to(torch.bfloat16). */
export function toBfloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}
/**
 * Tensors as the Python/Rust library writes them: header keys in its order (dtype, then name), header
 * padded with spaces to a multiple of 8 bytes, data in header order. Returns the file's bytes in
 * parts (the length word, the header, each tensor's data); `where` names the target in errors.
 */
export function serializeSafetensors(
  tensors: Map<string, WritableEntry> | Record<string, WritableEntry>,
  metadata?: Record<string, string>,
  where = "<bytes>",
): Uint8Array[] {
  const list = [...(tensors instanceof Map ? tensors : Object.entries(tensors))];
  for (const [name, { dtype, shape, data }] of list) {
    const what = `writing tensor "${name}" to ${where}`;
    if (name === "__metadata__" || name === "") throw new Error(`${what}: that name is not allowed`);
    if (!(dtype in WRITE_RANK)) throw new Error(`${what}: dtype ${dtype} cannot be written (only ${Object.keys(WRITE_RANK).join(", ")})`);
    if (!(data instanceof ARRAY_OF[dtype])) throw new Error(`${what}: ${dtype} data must be a ${ARRAY_OF[dtype].name}`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!shape.every(isCount) || data.length !== size) throw new Error(`${what}: shape [${shape}] needs ${size} values, got ${data.length}`);
  }
  // Names compare as UTF-8 bytes, as Rust's String ordering does.
  const utf8 = new TextEncoder();
  list.sort(([a, x], [b, y]) => WRITE_RANK[x.dtype] - WRITE_RANK[y.dtype] || compareBytes(utf8.encode(a), utf8.encode(b)));

  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { dtype, shape, data }] of list) {
    const bytes = dtype === "I64" ? int64Bytes(data as Int32Array) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let headerBytes = utf8.encode(JSON.stringify(header));
  const padding = (8 - (headerBytes.length % 8)) % 8;
  if (padding > 0) headerBytes = utf8.encode(JSON.stringify(header) + " ".repeat(padding));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  return [length, headerBytes, ...parts];
}

/** Byte-wise order of two byte strings (Buffer.compare's). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** int32 values as little-endian int64 words: (value, sign extension). */
function int64Bytes(values: Int32Array): Uint8Array {
  const words = new Int32Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    words[2 * i] = values[i];
    words[2 * i + 1] = values[i] >> 31;
  }
  return new Uint8Array(words.buffer);
}
