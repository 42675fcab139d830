/**
 * Executes a notebook on the tslab kernel and saves the outputs in nbformat 4, as Jupyter would.
 *
 * tslab sends no `execute_result` or `error` messages (see kernel.ts), so:
 * - a cell's last value stays what tslab makes of it, stdout text;
 * - a failed cell is recognised by `execute_reply.status == "error"`, and its error message (the
 *   trailing stderr text) becomes an nbformat `error` output with ename / evalue / traceback.
 * Execution stops at the first failed cell; the notebook is still written, with the error shown
 * in that cell and later cells cleared, and `executeNotebook` throws a NotebookExecutionError.
 */
import * as crypto from "crypto";
import * as path from "path";
import { Kernel, type ExecuteResult, type KernelOutput } from "./kernel";
import {
  joinLines,
  readNotebook,
  serializeNotebook,
  writeFileAtomic,
  type Cell,
  type Notebook,
  type Output,
} from "./nbformat";

export interface ExecuteNotebookOptions {
  /** Per-cell limit in ms: the cell is interrupted and execution fails. Default 30 minutes; 0 = none. */
  timeoutMs?: number;
  /** Working directory of the kernel. Default: the notebook's folder (so `../lib` resolves). */
  kernelCwd?: string;
  /** Where to write the executed notebook. Default: the notebook itself; null: don't write. */
  outPath?: string | null;
  /** Run on this already started kernel and leave it running (its cwd is then the kernel's own). */
  kernel?: Kernel;
  /** Called after each executed code cell (progress reports). */
  onCell?: (cell: ExecutedCell) => void;
}

/** One executed code cell, with its outputs as saved (multi-line strings joined). */
export interface ExecutedCell {
  /** Index in `notebook.cells` (0-based, counting markdown cells too). */
  index: number;
  executionCount: number;
  status: ExecuteResult["status"];
  outputs: Output[];
  durationMs: number;
  /** First line of the cell's source. */
  firstLine: string;
}

export interface ExecutedNotebook {
  path: string;
  /** The file written, or null. */
  outPath: string | null;
  /** The notebook as written to disk (lines split). */
  notebook: Notebook;
  cells: ExecutedCell[];
  durationMs: number;
}

/** The kernelspec written into every executed notebook. */
export const TSLAB_KERNELSPEC = { name: "tslab", display_name: "TypeScript", language: "typescript" };

/** A cell failed or timed out. `executed` holds what ran (and was written) up to and including it. */
export class NotebookExecutionError extends Error {
  constructor(
    message: string,
    readonly notebookPath: string,
    readonly cellIndex: number,
    readonly firstLine: string,
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: string[],
    executed: ExecutedNotebook,
  ) {
    super(message);
    this.name = "NotebookExecutionError";
    // Not enumerable: keeps the whole notebook out of printed errors.
    Object.defineProperty(this, "executed", { value: executed, enumerable: false });
  }
  declare readonly executed: ExecutedNotebook;
}

const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export async function executeNotebook(
  notebookPath: string,
  options: ExecuteNotebookOptions = {},
): Promise<ExecutedNotebook> {
  const started = Date.now();
  const nbPath = path.resolve(notebookPath);
  const nb = readNotebook(nbPath);
  const outPath = options.outPath === undefined ? nbPath : options.outPath === null ? null : path.resolve(options.outPath);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const kernel = options.kernel ?? (await Kernel.start({ cwd: options.kernelCwd ?? path.dirname(nbPath) }));
  const executed: ExecutedCell[] = [];
  const displays = new DisplayRegistry();
  let failure: { cell: ExecutedCell; error: ErrorOutput } | null = null;
  try {
    let count = 0;
    for (const [index, cell] of nb.cells.entries()) {
      ensureCellId(nb, cell, index);
      if (cell.cell_type !== "code") continue;
      const source = joinLines(cell.source);
      if (failure || source.trim() === "") {
        // Jupyter does not run empty cells; after a failure, clear what an earlier run left.
        cell.outputs = [];
        cell.execution_count = null;
        continue;
      }
      count += 1;
      const result = await kernel.execute(source, timeoutMs > 0 ? { timeoutMs } : {}).catch(kernelFailure);
      const { outputs, error } = toNbOutputs(result, count, displays, timeoutMs);
      cell.outputs = outputs;
      // Numbered by this run (1, 2, ...), as on a fresh kernel, even when a kernel is reused.
      cell.execution_count = count;
      const done: ExecutedCell = {
        index,
        executionCount: count,
        status: result.status,
        outputs,
        durationMs: result.durationMs,
        firstLine: firstLineOf(source),
      };
      executed.push(done);
      options.onCell?.(done);
      if (error) failure = { cell: done, error };
    }
  } finally {
    if (!options.kernel) await kernel.shutdown();
  }

  nb.metadata = {
    ...nb.metadata,
    kernelspec: { ...TSLAB_KERNELSPEC },
    language_info: kernel.kernelInfo.language_info ?? { name: "typescript" },
  };
  const text = serializeNotebook(nb);
  if (outPath) writeFileAtomic(outPath, text);
  const result: ExecutedNotebook = {
    path: nbPath,
    outPath,
    notebook: JSON.parse(text) as Notebook,
    cells: executed,
    durationMs: Date.now() - started,
  };
  if (failure) {
    const { cell, error } = failure;
    const where = `${displayPath(nbPath)}, cell ${cell.index} (In [${cell.executionCount}]: ${cell.firstLine})`;
    const what = cell.status === "timeout" ? "timed out" : "failed";
    const details = cell.status === "timeout" ? error.traceback[0] : error.traceback.join("\n");
    throw new NotebookExecutionError(
      `${where} ${what}:\n${details}`,
      nbPath,
      cell.index,
      cell.firstLine,
      error.ename,
      error.evalue,
      error.traceback,
      result,
    );
  }
  return result;
}

type ErrorOutput = Extract<Output, { output_type: "error" }>;

/** The kernel process died (or could not be reached) while running a cell. */
function kernelFailure(err: unknown): ExecuteResult {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message.trim().split("\n");
  return {
    status: "error",
    executionCount: null,
    outputs: [{ type: "error", ename: "KernelError", evalue: lines[0], traceback: lines }],
    durationMs: 0,
    kernelDead: true,
  };
}

/**
 * Turns the kernel's messages for one cell into nbformat outputs: consecutive stream texts of the
 * same name merged (as JupyterLab and nbconvert do, with `\r` and `\b` applied), display data
 * without `transient`, updates applied to the displays they name, and for a failed cell its error
 * text moved out of stderr into an `error` output.
 */
function toNbOutputs(
  result: ExecuteResult,
  executionCount: number,
  displays: DisplayRegistry,
  timeoutMs: number,
): { outputs: Output[]; error: ErrorOutput | null } {
  let messages = result.outputs;
  let error: ErrorOutput | null = null;
  if (result.status !== "ok" && !messages.some((m) => m.type === "error")) {
    const split = takeErrorText(messages);
    messages = split.rest;
    error = result.status === "timeout" ? timeoutError(split.text, timeoutMs) : parseError(split.text, result.status);
  }

  const outputs: Output[] = [];
  let clearPending = false;
  const push = (output: Output) => {
    if (clearPending) {
      outputs.length = 0;
      clearPending = false;
    }
    outputs.push(output);
  };
  for (const m of messages) {
    switch (m.type) {
      case "stream": {
        const last = outputs[outputs.length - 1];
        if (!clearPending && last?.output_type === "stream" && last.name === m.name) {
          last.text = joinLines(last.text) + m.text;
        } else {
          push({ output_type: "stream", name: m.name, text: m.text });
        }
        break;
      }
      case "display_data": {
        const output: Output = { output_type: "display_data", data: m.data, metadata: m.metadata };
        push(output);
        if (m.displayId) displays.add(m.displayId, output);
        break;
      }
      case "update_display_data":
        displays.update(m.displayId, m.data, m.metadata);
        break;
      case "execute_result":
        push({ output_type: "execute_result", data: m.data, metadata: m.metadata, execution_count: executionCount });
        break;
      case "error":
        // Only kernels other than tslab send these.
        error = { output_type: "error", ename: m.ename, evalue: m.evalue, traceback: m.traceback };
        break;
      case "clear_output":
        if (m.wait) clearPending = true;
        else outputs.length = 0;
        break;
    }
  }
  for (const o of outputs) {
    if (o.output_type === "stream") o.text = applyControlChars(joinLines(o.text));
  }
  if (error) {
    if (clearPending) outputs.length = 0;
    outputs.push(error);
  }
  // A cell reported "error" without any error text still failed.
  if (!error && result.status !== "ok") {
    error = parseError("", result.status);
    outputs.push(error);
  }
  return { outputs, error };
}

/** TypeScript diagnostics as tslab prints them: `LINE:COL - message`, or `file LINE:COL - message`. */
const DIAGNOSTIC = /^(?:\S.* )?\d+:\d+ - /;

/**
 * Splits off the error report from a failed cell's messages. tslab prints a runtime error with one
 * console.error call, so it is the last stderr chunk; TypeScript diagnostics stop the cell before
 * it runs, and then every stderr chunk is one.
 */
function takeErrorText(messages: KernelOutput[]): { text: string; rest: KernelOutput[] } {
  const stderr = messages.filter((m): m is Extract<KernelOutput, { type: "stream" }> => m.type === "stream" && m.name === "stderr");
  if (stderr.length === 0) return { text: "", rest: messages };
  const errorChunks = stderr.every((m) => DIAGNOSTIC.test(m.text)) ? stderr : [stderr[stderr.length - 1]];
  return {
    text: errorChunks.map((m) => m.text).join(""),
    rest: messages.filter((m) => !errorChunks.includes(m as (typeof stderr)[number])),
  };
}

/** ename / evalue / traceback from tslab's stderr text for a failed cell. */
function parseError(text: string, status: ExecuteResult["status"]): ErrorOutput {
  // Frames inside tslab and Node say nothing about the cell, and would tie the saved file to
  // this machine's paths.
  const traceback = withoutInternalFrames(text.replace(/\n+$/, "").split("\n"));
  if (text.trim() === "") {
    const evalue = status === "abort" ? "execution was aborted by the kernel" : "the cell failed with no error message";
    return { output_type: "error", ename: "Error", evalue, traceback: [`Error: ${evalue}`] };
  }
  const lines = text.replace(/\n+$/, "").split("\n");
  if (lines.every((l) => DIAGNOSTIC.test(l) || l.trim() === "" || /^\s/.test(l))) {
    // The cell did not compile: it never ran.
    return { output_type: "error", ename: "TypeScriptError", evalue: lines.join("\n"), traceback };
  }
  // Node prefixes an error thrown by vm code with the source line: "evalmachine.<anonymous>:2",
  // the line, a caret, a blank line. Skip it to reach "Name: message".
  let i = 0;
  if (/^\S+:\d+$/.test(lines[0])) {
    const blank = lines.indexOf("", 1);
    if (blank > 0) i = blank + 1;
  }
  while (i < lines.length - 1 && lines[i].trim() === "") i++;
  const stackStart = lines.findIndex((l, j) => j > i && /^\s+at /.test(l));
  const messageLines = lines.slice(i, stackStart > 0 ? stackStart : i + 1);
  const head = /^([A-Za-z_$][\w$.]*)(?: \[[^\]]*\])?: ([\s\S]*)$/.exec(messageLines.join("\n"));
  if (head && (stackStart > 0 || /(Error|Exception)$/.test(head[1]))) {
    return { output_type: "error", ename: head[1], evalue: head[2], traceback };
  }
  // A thrown non-Error value (`throw "oops"`): its printed form is the message.
  return { output_type: "error", ename: "Error", evalue: messageLines.join("\n"), traceback };
}

function timeoutError(interruptText: string, timeoutMs: number): ErrorOutput {
  const evalue = `cell execution timed out after ${timeoutMs / 1000} s and was interrupted`;
  const traceback = [`TimeoutError: ${evalue}`];
  if (interruptText.trim() !== "") traceback.push(...withoutInternalFrames(interruptText.replace(/\n+$/, "").split("\n")));
  return { output_type: "error", ename: "TimeoutError", evalue, traceback };
}

/**
 * Drops stack frames of tslab and Node internals, noise in an error message about a notebook cell.
 * util.inspect ends the last frame with " {" when the error has extra properties (`code: ...`):
 * that brace moves to the last frame kept.
 */
function withoutInternalFrames(lines: string[]): string[] {
  const kept: string[] = [];
  for (const line of lines) {
    const internal = /^\s+at /.test(line) && /\(node:|\bnode:internal|[\\/]node_modules[\\/]tslab[\\/]|^\s+at node:/.test(line);
    if (!internal) kept.push(line);
    else if (line.endsWith(" {") && kept.length > 0) kept[kept.length - 1] += " {";
  }
  return kept;
}

/**
 * What a terminal shows for text with `\r` and `\b`: a carriage return (not before a newline)
 * drops the line so far, a backspace the character before it. Same rules as nbconvert's
 * coalesce_streams, which JupyterLab also follows.
 */
export function applyControlChars(text: string): string {
  let out = text;
  if (out.includes("\r")) out = out.replace(/[^\n]*\r(?=[^\n])/g, "");
  if (out.includes("\x08")) {
    let prev: string;
    do {
      prev = out;
      out = out.replace(/[^\n\x08]\x08/g, "");
    } while (out !== prev);
  }
  return out;
}

/** Outputs created with a display id (tslab.newDisplay()), so updates can change them in place. */
class DisplayRegistry {
  private readonly byId = new Map<string, Output[]>();
  add(id: string, output: Output): void {
    const list = this.byId.get(id) ?? [];
    list.push(output);
    this.byId.set(id, list);
  }
  update(id: string, data: Record<string, unknown>, metadata: Record<string, unknown>): void {
    for (const output of this.byId.get(id) ?? []) {
      if (output.output_type === "display_data" || output.output_type === "execute_result") {
        output.data = data;
        output.metadata = metadata;
      }
    }
  }
}

/** nbformat 4.5+ requires cell ids: give a missing one a stable id derived from the cell. */
function ensureCellId(nb: Notebook, cell: Cell, index: number): void {
  if (cell.id !== undefined || nb.nbformat_minor < 5) return;
  const hash = crypto.createHash("sha256").update(`${index}\n${joinLines(cell.source)}`).digest("hex");
  cell.id = hash.slice(0, 8);
}

function firstLineOf(source: string): string {
  const line = source.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.length > 80 ? line.slice(0, 77) + "..." : line.trim();
}

function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}
