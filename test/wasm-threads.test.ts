import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import { nodeWorkerScript } from "../lib/wasm-threads";

// The wasm backend's threaded build in Node (lib/wasm-threads.ts): its pthreads start from the
// worker script tfjs embeds, made to load the threaded module from its file.

const ROOT = path.resolve(__dirname, "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function step(threads: number): Promise<{ device: string; loss: number; gradSums: number[] }> {
  return new Promise((resolve, reject) =>
    childProcess.execFile(TSX, [path.join(__dirname, "helpers", "wasm-threads-child.ts"), String(threads)], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${threads} thread(s): ${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split("\n").pop()!)),
    ),
  );
}

test("the embedded worker script is found and made to load the threaded module from its file", () => {
  const bundle = require.resolve("@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js");
  const module = require.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js");
  const script = nodeWorkerScript(fs.readFileSync(bundle, "utf8"), module);
  expect(script.startsWith(`var THREADED_MODULE=${JSON.stringify(module)};`)).toBe(true);
  expect(script).toContain("importScripts(THREADED_MODULE)");
  expect(script).not.toContain("createObjectURL");
  expect(() => new Function(script)).not.toThrow(); // it parses as JavaScript
  expect(() => nodeWorkerScript("var x = 1;", module, "other.js")).toThrow("other.js: no embedded worker script (wasmWorkerContents) found");
});

test("two threads give the same training step as one, and the process ends by itself", async () => {
  const [one, two] = await Promise.all([step(1), step(2)]);
  expect(one.device).toBe("CPU (WebAssembly, SIMD)");
  expect(two.device).toBe("CPU (WebAssembly, SIMD, 2 threads)");
  expect(two.loss).toBeCloseTo(one.loss, 6);
  two.gradSums.forEach((g, i) => expect(g).toBeCloseTo(one.gradSums[i], 4));
}, 120_000);

test("a thread count outside 1 to 4 is refused by name", async () => {
  await expect(step(5)).rejects.toThrow("wasmThreads (or LORA_WASM_THREADS) is \"5\": a whole number from 1 to 4");
}, 60_000);
