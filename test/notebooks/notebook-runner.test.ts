/**
 * The notebook runner on the real tslab kernel: outputs collected, the file written, failures
 * named, the large-output hang fixed, the kernelspec installer. Kernels take ~1.5-2.5 s to start,
 * so most tests share one (started from the installed kernelspec, which tests that too).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { installKernel, jupyterDataDir, kernelSpec } from "../../scripts/install-kernel";
import { applyControlChars, executeNotebook, NotebookExecutionError } from "../../scripts/notebook/execute";
import { Kernel, KERNEL_ROOT_PRELOAD } from "../../scripts/notebook/kernel";
import { pythonJsonDumps, splitLines, type Notebook } from "../../scripts/notebook/nbformat";

const ROOT = path.resolve(__dirname, "..", "..");
const FIXTURES = path.join(__dirname, "..", "fixtures", "notebooks");
const fixture = (name: string) => path.join(FIXTURES, name);

let tmp: string;
let kernel: Kernel;
let kernelJson: { argv: string[]; display_name: string; language: string };

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "notebook-runner-"));
  const dir = installKernel({ prefix: path.join(tmp, "prefix") });
  kernelJson = JSON.parse(fs.readFileSync(path.join(dir, "kernel.json"), "utf8"));
  // The registered kernel moves to the project's root (kernel-root.cjs); these fixtures import
  // files beside them, so the shared kernel runs the same command without that one preload.
  const argv = kernelJson.argv.filter((arg, i, all) => arg !== KERNEL_ROOT_PRELOAD && all[i + 1] !== KERNEL_ROOT_PRELOAD);
  kernel = await Kernel.start({ cwd: FIXTURES, argv });
});

afterAll(async () => {
  await kernel?.shutdown();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Checks a notebook against the nbformat 4.5 JSON schema's rules (structure, types, no extra keys). */
function expectValidNbformat4(nb: any): void {
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  const isMultiline = (v: unknown) => typeof v === "string" || (Array.isArray(v) && v.every((s) => typeof s === "string"));
  const onlyKeys = (o: object, allowed: string[], where: string) => {
    for (const k of Object.keys(o)) check(allowed.includes(k), `${where}: unexpected key ${k}`);
  };
  const isMimeBundle = (data: any, where: string) => {
    check(isObject(data), `${where}: data must be an object`);
    for (const [mime, value] of Object.entries(data ?? {})) {
      if (!/^application\/(.*\+)?json$/.test(mime)) check(isMultiline(value), `${where}: ${mime} must be a string or lines`);
    }
  };
  check(isObject(nb), "notebook must be an object");
  onlyKeys(nb, ["cells", "metadata", "nbformat", "nbformat_minor"], "notebook");
  check(nb.nbformat === 4, "nbformat must be 4");
  check(Number.isInteger(nb.nbformat_minor) && nb.nbformat_minor >= 0, "nbformat_minor must be an integer");
  check(isObject(nb.metadata), "metadata must be an object");
  const { kernelspec, language_info } = nb.metadata ?? {};
  if (kernelspec !== undefined) check(typeof kernelspec.name === "string" && typeof kernelspec.display_name === "string", "kernelspec needs name, display_name");
  if (language_info !== undefined) check(typeof language_info.name === "string", "language_info needs name");
  check(Array.isArray(nb.cells), "cells must be an array");
  const ids = new Set<string>();
  for (const [i, cell] of (nb.cells ?? []).entries()) {
    const where = `cells[${i}]`;
    if (nb.nbformat_minor >= 5) {
      check(typeof cell.id === "string" && /^[a-zA-Z0-9-_]{1,64}$/.test(cell.id), `${where}: bad id`);
      check(!ids.has(cell.id), `${where}: duplicate id`);
      ids.add(cell.id);
    }
    check(isObject(cell.metadata), `${where}: metadata must be an object`);
    check(isMultiline(cell.source), `${where}: source must be a string or lines`);
    if (cell.cell_type === "code") {
      onlyKeys(cell, ["id", "cell_type", "metadata", "source", "outputs", "execution_count"], where);
      check(cell.execution_count === null || (Number.isInteger(cell.execution_count) && cell.execution_count >= 0), `${where}: bad execution_count`);
      check(Array.isArray(cell.outputs), `${where}: outputs must be an array`);
      for (const [j, o] of (cell.outputs ?? []).entries()) {
        const at = `${where}.outputs[${j}]`;
        switch (o.output_type) {
          case "stream":
            onlyKeys(o, ["output_type", "name", "text"], at);
            check(typeof o.name === "string" && isMultiline(o.text), `${at}: stream needs name and text`);
            break;
          case "display_data":
            onlyKeys(o, ["output_type", "data", "metadata"], at);
            isMimeBundle(o.data, at);
            check(isObject(o.metadata), `${at}: metadata must be an object`);
            break;
          case "execute_result":
            onlyKeys(o, ["output_type", "data", "metadata", "execution_count"], at);
            isMimeBundle(o.data, at);
            break;
          case "error":
            onlyKeys(o, ["output_type", "ename", "evalue", "traceback"], at);
            check(typeof o.ename === "string" && typeof o.evalue === "string", `${at}: error needs ename, evalue`);
            check(Array.isArray(o.traceback) && o.traceback.every((s: unknown) => typeof s === "string"), `${at}: traceback must be strings`);
            break;
          default:
            problems.push(`${at}: unknown output_type ${o.output_type}`);
        }
      }
    } else {
      check(["markdown", "raw"].includes(cell.cell_type), `${where}: unknown cell_type ${cell.cell_type}`);
      onlyKeys(cell, ["id", "cell_type", "metadata", "source", "attachments"], where);
    }
  }
  expect(problems).toEqual([]);
}

function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

const cellById = (nb: Notebook, id: string) => nb.cells.find((c) => c.id === id)!;

const FIGURE = {
  data: [{ x: [1, 2, 3], y: [1, 4, 9], type: "scatter" }],
  layout: { title: "squares" },
};

describe("executeNotebook", () => {
  let written: string;

  test("runs every code cell and saves exactly what the kernel sent, as Jupyter would", async () => {
    // A copy, executed in place (the default); the kernel runs in the fixture folder for ./helpers.
    const copy = path.join(tmp, "basic.ipynb");
    fs.copyFileSync(fixture("basic.ipynb"), copy);
    const result = await executeNotebook(copy, { kernelCwd: FIXTURES, timeoutMs: 60_000 });
    expect(result.outPath).toBe(copy);
    written = fs.readFileSync(copy, "utf8");
    const nb = JSON.parse(written);

    const expected: Record<string, { count: number | null; outputs: unknown[] }> = {
      print: { count: 1, outputs: [{ output_type: "stream", name: "stdout", text: ["hello\n", "world\n"] }] },
      // tslab prints a cell's last value on stdout: there is no execute_result.
      compute: { count: 2, outputs: [{ output_type: "stream", name: "stdout", text: ["42\n"] }] },
      html: { count: 3, outputs: [{ output_type: "display_data", data: { "text/html": ["<b>bold</b> text"] }, metadata: {} }] },
      plotly: { count: 4, outputs: [{ output_type: "display_data", data: { "application/vnd.plotly.v1+json": FIGURE }, metadata: {} }] },
      "local-import": { count: 5, outputs: [{ output_type: "stream", name: "stdout", text: ["hello from helpers.ts 1764\n"] }] },
      // Empty cells don't run, and lose what an earlier run left.
      empty: { count: null, outputs: [] },
      streams: {
        count: 6,
        outputs: [
          { output_type: "stream", name: "stdout", text: ["to stdout\n"] },
          { output_type: "stream", name: "stderr", text: ["to stderr\n"] },
          { output_type: "stream", name: "stdout", text: ["stdout again\n"] },
        ],
      },
      progress: { count: 7, outputs: [{ output_type: "stream", name: "stdout", text: ["100%\n"] }] },
      // newDisplay(): the update replaced the first display's data; no display id in the file.
      "update-display": { count: 8, outputs: [{ output_type: "display_data", data: { "text/plain": ["second"] }, metadata: {} }] },
    };
    for (const [id, want] of Object.entries(expected)) {
      const cell = cellById(nb, id);
      expect({ id, count: cell.execution_count, outputs: cell.outputs }).toEqual({ id, count: want.count, outputs: want.outputs });
    }
    expect(cellById(nb, "intro")).toEqual({
      cell_type: "markdown",
      id: "intro",
      metadata: {},
      source: ["# Fixture\n", "\n", "Cells that print, compute, display and import."],
    });

    // Returned cells: joined text, indices into `cells`, counts.
    expect(result.cells.map((c) => [c.index, c.executionCount, c.status])).toEqual([
      [1, 1, "ok"], [2, 2, "ok"], [3, 3, "ok"], [4, 4, "ok"], [5, 5, "ok"], [7, 6, "ok"], [8, 7, "ok"], [9, 8, "ok"],
    ]);
    expect(result.cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: "hello\nworld\n" }]);
    expect(result.notebook).toEqual(nb);

    // The file: valid nbformat 4, tslab's kernelspec, Jupyter's layout (sorted keys, indent 1, newline).
    expectValidNbformat4(nb);
    expect(nb.metadata.kernelspec).toEqual({ name: "tslab", display_name: "TypeScript", language: "typescript" });
    expect(nb.metadata.language_info).toMatchObject({ name: "typescript", file_extension: ".ts" });
    expect(written).toBe(pythonJsonDumps(nb) + "\n");
    expect(written.startsWith('{\n "cells": [\n  {\n   "cell_type": "markdown",\n')).toBe(true);
    expect(written).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/); // no timestamps
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith(".tmp"))).toEqual([]); // atomic write cleaned up
  });

  test("is deterministic: re-running (on a reused kernel) writes the same bytes", async () => {
    const again = path.join(tmp, "basic-again.ipynb");
    await executeNotebook(path.join(tmp, "basic.ipynb"), { kernel, outPath: again, timeoutMs: 60_000 });
    expect(fs.readFileSync(again, "utf8")).toBe(written);
  });

  test.each([
    ["throws.ipynb", "const n = 1;", "Error", "boom from the fixture", 'throw new Error("boom from the fixture");'],
    ["type-error.ipynb", 'const x: number = "a";', "TypeScriptError", "1:7 - Type 'string' is not assignable to type 'number'.", "1:7 - Type 'string'"],
    ["rejects.ipynb", "await Promise.reject(", "RangeError", "rejected in the fixture", "RangeError: rejected in the fixture"],
  ])("%s: stops, names notebook, cell and error, and saves the error", async (name, firstLine, ename, evalue, text) => {
    const out = path.join(tmp, name);
    const error: unknown = await executeNotebook(fixture(name), { kernel, outPath: out, timeoutMs: 30_000 }).catch((e) => e);
    expect(error).toBeInstanceOf(NotebookExecutionError);
    const err = error as NotebookExecutionError;
    expect(err.message).toContain(name);
    expect(err.message).toContain("cell 1 (In [2]: ");
    expect(err.message).toContain(firstLine);
    expect(err.message).toContain(text);
    expect(err.message).not.toMatch(/node_modules[\\/]tslab/); // internal frames dropped
    expect([err.cellIndex, err.ename, err.evalue]).toEqual([1, ename, evalue]);

    const nb = readJson(out);
    expectValidNbformat4(nb);
    expect(nb.cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: ["before the failure\n"] }]);
    expect(nb.cells[1].execution_count).toBe(2);
    expect(nb.cells[1].outputs).toEqual([{ output_type: "error", ename, evalue, traceback: expect.any(Array) }]);
    expect(nb.cells[1].outputs[0].traceback.join("\n")).toContain(text);
    // The cell after the failure did not run: its stale output is gone.
    expect([nb.cells[2].execution_count, nb.cells[2].outputs]).toEqual([null, []]);
    expect(err.executed.cells.map((c) => c.status)).toEqual(["ok", "error"]);
  });

  test("a cell past its timeout is interrupted, fails clearly, and the kernel lives on", async () => {
    const out = path.join(tmp, "timeout.ipynb");
    const started = Date.now();
    const err = (await executeNotebook(fixture("timeout.ipynb"), { kernel, outPath: out, timeoutMs: 1000 }).catch((e) => e)) as NotebookExecutionError;
    expect(Date.now() - started).toBeLessThan(8000);
    expect(err).toBeInstanceOf(NotebookExecutionError);
    expect(err.message).toMatch(/timeout\.ipynb, cell 1 \(In \[2\]: while \(true\) \{\}\) timed out:\nTimeoutError: cell execution timed out after 1 s/);
    expect(err.ename).toBe("TimeoutError");
    const nb = readJson(out);
    expect(nb.cells[1].outputs[0]).toMatchObject({ output_type: "error", ename: "TimeoutError" });
    expect(nb.cells[1].outputs[0].traceback.join("\n")).toContain("interrupted by `SIGINT`");
    // SIGINT broke the loop; tslab still runs code (after its 200 ms error pause, which Kernel waits out).
    expect(kernel.alive).toBe(true);
    const next = await kernel.execute("21 * 2");
    expect([next.status, next.outputs]).toEqual(["ok", [{ type: "stream", name: "stdout", text: "42\n" }]]);
  });

  test("a cell printing 20,000 lines completes, every line kept (the preload's fix)", async () => {
    const result = await executeNotebook(fixture("big-output.ipynb"), { kernel, outPath: null, timeoutMs: 30_000 });
    const expected = Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join("");
    expect(result.cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: expected }]);
    expect(result.notebook.cells[0].outputs![0]).toMatchObject({ text: splitLines(expected) });
  });

  test("tfjs with the wasm backend works inside the kernel (node_modules found by walking up)", async () => {
    const result = await executeNotebook(fixture("tfjs-wasm.ipynb"), { kernel, outPath: null, timeoutMs: 60_000 });
    expect(result.cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: "wasm [ 1, 4, 9 ]\n" }]);
  });
});

describe("kernel", () => {
  test("without the preload, tslab hangs on a large synchronous print (the bug the preload fixes)", async () => {
    const bare = await Kernel.start({ cwd: FIXTURES, sendQueue: false });
    const pid = bare.pid!;
    try {
      expect(bare.kernelInfo).toMatchObject({ implementation: "tslab", language_info: { name: "typescript" } });
      const r = await bare.execute('for (let i = 0; i < 3000; i++) console.log("x" + i)', { timeoutMs: 1500, interruptGraceMs: 500 });
      // No execute_reply, no idle: the interrupt cannot help either, so the kernel was killed.
      expect([r.status, r.kernelDead]).toEqual(["timeout", true]);
      const lines = r.outputs.map((o) => (o.type === "stream" ? o.text : "")).join("").split("\n").length;
      expect(lines).toBeLessThan(3000);
    } finally {
      await bare.shutdown();
    }
    expect(bare.alive).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow(); // no orphan process
  });
});

describe("run-notebooks CLI", () => {
  test("prints progress, writes to --out, stops with exit code 1 and the error on a failure", () => {
    const outDir = path.join(tmp, "cli-out");
    const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
    const run = spawnSync(
      tsx,
      ["scripts/run-notebooks.ts", fixture("hello.ipynb"), fixture("type-error.ipynb"), fixture("basic.ipynb"), "--out", outDir, "--timeout", "60"],
      { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("[1/3] test/fixtures/notebooks/hello.ipynb");
    expect(run.stdout).toMatch(/ cell +0 {2}In \[1\] +\d+\.\d s {2}console\.log\("hello"\);\n  done: 1 cells in \d+\.\d s -> /);
    expect(run.stdout).toContain("[2/3] test/fixtures/notebooks/type-error.ipynb");
    expect(run.stdout).not.toContain("[3/3]"); // stops at the first failure
    expect(run.stderr).toContain(
      "test/fixtures/notebooks/type-error.ipynb, cell 1 (In [2]: const x: number = \"a\";) failed:\n1:7 - Type 'string' is not assignable to type 'number'.",
    );
    expect(fs.readdirSync(outDir).sort()).toEqual(["hello.ipynb", "type-error.ipynb"]);
    expect(readJson(path.join(outDir, "hello.ipynb")).cells[0].outputs).toEqual([{ output_type: "stream", name: "stdout", text: ["hello\n"] }]);
    // The fixtures themselves are untouched.
    expect(readJson(fixture("type-error.ipynb")).cells[1].outputs).toEqual([]);
  });
});

describe("install-kernel", () => {
  test("writes a kernelspec with node, the preload and tslab as absolute paths", () => {
    expect(kernelJson).toEqual({
      argv: [
        process.execPath,
        "-r",
        path.join(ROOT, "scripts", "notebook", "zmq-send-queue.cjs"),
        "-r",
        path.join(ROOT, "scripts", "notebook", "kernel-root.cjs"),
        path.join(ROOT, "node_modules", "tslab", "bin", "tslab"),
        "kernel",
        "--config-path",
        "{connection_file}",
      ],
      display_name: "TypeScript (LoRA book)",
      language: "typescript",
      interrupt_mode: "signal",
    });
    expect(kernelSpec("Other").display_name).toBe("Other");
    const named = installKernel({ prefix: path.join(tmp, "p2"), name: "LoRA-Book" });
    expect(named).toBe(path.join(tmp, "p2", "share", "jupyter", "kernels", "lora-book"));
    // The shared kernel above was started from this kernel.json and printed 20,000 lines.
  });

  test("finds the Jupyter data dir as jupyter_core does", () => {
    expect(jupyterDataDir({ JUPYTER_DATA_DIR: "/j" }, "linux", "/h")).toBe("/j");
    expect(jupyterDataDir({}, "linux", "/h")).toBe(path.join("/h", ".local", "share", "jupyter"));
    expect(jupyterDataDir({ XDG_DATA_HOME: "/x" }, "linux", "/h")).toBe(path.join("/x", "jupyter"));
    expect(jupyterDataDir({}, "darwin", "/h")).toBe(path.join("/h", "Library", "Jupyter"));
    expect(jupyterDataDir({ APPDATA: "C:\\AppData" }, "win32", "/h")).toBe(path.join("C:\\AppData", "jupyter"));
    const home = path.join(tmp, "home");
    expect(installKernel({ env: {}, platform: "linux", home })).toBe(path.join(home, ".local", "share", "jupyter", "kernels", "tslab"));
  });

  const kernelspecBin = "/usr/bin/jupyter-kernelspec";
  test("jupyter kernelspec list sees it", () => {
    if (!fs.existsSync(kernelspecBin)) throw new Error(`${kernelspecBin} is missing: apt-get install jupyter-client (scripts/setup.sh does)`);
    const dataDir = path.join(tmp, "jupyter-data");
    installKernel({ env: { JUPYTER_DATA_DIR: dataDir } });
    const list = spawnSync(kernelspecBin, ["list"], { env: { ...process.env, JUPYTER_DATA_DIR: dataDir }, encoding: "utf8" });
    expect(list.stdout).toMatch(new RegExp(`tslab\\s+${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });
});

describe("nbformat helpers", () => {
  test("splitLines is Python's splitlines(True); JSON layout is json.dumps(indent=1, sort_keys=True)", () => {
    expect(splitLines("a\nb\r\nc\rd")).toEqual(["a\n", "b\r\n", "c\r", "d"]);
    expect(splitLines("")).toEqual([]);
    expect(pythonJsonDumps({ b: [1, []], a: { "10": 1, "2": {} }, é: "x\u0001" })).toBe(
      '{\n "a": {\n  "10": 1,\n  "2": {}\n },\n "b": [\n  1,\n  []\n ],\n "é": "x\\u0001"\n}',
    );
  });

  test("carriage returns and backspaces are applied as a terminal would", () => {
    expect(applyControlChars("10%\r50%\r100%\n")).toBe("100%\n");
    expect(applyControlChars("a\r\nb")).toBe("a\r\nb");
    expect(applyControlChars("abc\b\bd\n")).toBe("ad\n");
  });
});
