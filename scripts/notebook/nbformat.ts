/**
 * The parts of nbformat 4 we read and write, and the file layout Jupyter uses, so that a notebook
 * executed here diffs cleanly against one saved by JupyterLab.
 *
 * Jupyter (nbformat's JSONWriter) writes `json.dumps(nb, indent=1, sort_keys=True,
 * ensure_ascii=False)` plus a newline, after `split_lines`: cell sources, stream texts and the
 * text-like entries of mime bundles become lists of lines (Python's `str.splitlines(True)`).
 */
import * as fs from "fs";
import * as path from "path";

export type MultilineString = string | string[];
export type MimeBundle = Record<string, unknown>;

export type Output =
  | { output_type: "stream"; name: string; text: MultilineString }
  | { output_type: "display_data"; data: MimeBundle; metadata: Record<string, unknown> }
  | {
      output_type: "execute_result";
      data: MimeBundle;
      metadata: Record<string, unknown>;
      execution_count: number | null;
    }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

export interface Cell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  metadata: Record<string, unknown>;
  source: MultilineString;
  outputs?: Output[];
  execution_count?: number | null;
  attachments?: Record<string, MimeBundle>;
}

export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** Joins a multi-line field that may be stored as a list of lines. */
export function joinLines(value: MultilineString | undefined): string {
  return Array.isArray(value) ? value.join("") : (value ?? "");
}

/** Python's `str.splitlines(keepends=True)`, which nbformat uses: "" gives []. */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  const lineBreak = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g;
  let start = 0;
  for (const m of text.matchAll(lineBreak)) {
    const end = m.index! + m[0].length;
    lines.push(text.slice(start, end));
    start = end;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/** Mime types whose string values nbformat splits into lines (rwbase._split_mimebundle). */
function isSplitMime(mime: string): boolean {
  return mime.startsWith("text/") || mime === "application/javascript" || mime === "image/svg+xml";
}

/** Reads a notebook and checks it is nbformat 4. */
export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
  } catch (err) {
    throw new Error(`${file}: not a readable notebook: ${(err as Error).message}`);
  }
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells)) {
    throw new Error(`${file}: expected an nbformat 4 notebook (found nbformat ${String(nb.nbformat)})`);
  }
  return nb;
}

/** The notebook as Jupyter writes it: lines split, keys sorted, indent 1, trailing newline. */
export function serializeNotebook(nb: Notebook): string {
  const onDisk: Notebook = {
    ...nb,
    cells: nb.cells.map((cell) => {
      const out: Cell = { ...cell, source: splitLines(joinLines(cell.source)) };
      if (cell.attachments) {
        out.attachments = Object.fromEntries(
          Object.entries(cell.attachments).map(([name, bundle]) => [name, splitBundle(bundle)]),
        );
      }
      if (cell.outputs) out.outputs = cell.outputs.map(splitOutput);
      return out;
    }),
  };
  // Like nbformat's strip_transient.
  const metadata = { ...onDisk.metadata };
  delete metadata.orig_nbformat;
  delete metadata.orig_nbformat_minor;
  delete metadata.signature;
  onDisk.metadata = metadata;
  return pythonJsonDumps(onDisk) + "\n";
}

/** Writes `text` to `file` atomically: a temporary file beside it, then rename. */
export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = fs.openSync(tmp, "w", fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o644);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function splitOutput(output: Output): Output {
  switch (output.output_type) {
    case "stream":
      return { ...output, text: splitLines(joinLines(output.text)) };
    case "display_data":
    case "execute_result":
      return { ...output, data: splitBundle(output.data) };
    default:
      return output;
  }
}

function splitBundle(bundle: MimeBundle): MimeBundle {
  return Object.fromEntries(
    Object.entries(bundle).map(([mime, value]) => {
      if (!isSplitMime(mime)) return [mime, value];
      if (typeof value === "string") return [mime, splitLines(value)];
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return [mime, splitLines(value.join(""))];
      return [mime, value];
    }),
  );
}

/**
 * `json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)`. Written by hand because
 * JSON.stringify puts integer-like keys ("2", "10") first in numeric order, where Python sorts
 * all keys as strings by code point.
 */
export function pythonJsonDumps(value: unknown, level = 0): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return value.toString();
  const pad = " ".repeat(level + 1);
  const end = " ".repeat(level);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[\n" + value.map((v) => pad + pythonJsonDumps(v, level + 1)).join(",\n") + "\n" + end + "]";
  }
  if (typeof value === "object") {
    const toJSON = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof toJSON === "function") return pythonJsonDumps(toJSON.call(value), level);
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && typeof v !== "function")
      .sort(([a], [b]) => compareCodePoints(a, b));
    if (entries.length === 0) return "{}";
    const items = entries.map(([k, v]) => pad + JSON.stringify(k) + ": " + pythonJsonDumps(v, level + 1));
    return "{\n" + items.join(",\n") + "\n" + end + "}";
  }
  return "null";
}

function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
