import * as fs from "fs";
import type { CpuInfo } from "os";

// tfjs's WebAssembly backend ships a multithreaded build (XNNPACK's thread pool on Emscripten's
// pthreads) that it uses in browsers and turns off under Node.js, because its pthreads start from
// Blob URLs, which Node's worker_threads cannot load. This starts them the Node way, so the
// backend can use more than one core of the reader's machine:
// - the worker script tfjs embeds runs through worker_threads' `eval` option, and loads the threaded
//   module from its file in the package rather than from a Blob;
// - the module sizes XNNPACK's pool from the logical cores it is told of, halved (it assumes two
//   hardware threads per core) and at most 4, so while it starts it is told of twice the threads
//   wanted.
// Call before tf.setBackend("wasm"); a process that has started the wasm backend keeps its build.

type WorkerCtor = new (file: string | URL, options?: Record<string, unknown>) => { unref(): void };

/** Where the threaded module and tfjs's copy of its worker script live in the installed package. */
function packageFiles(): { bundle: string; module: string } {
  return {
    bundle: require.resolve("@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js"),
    module: require.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js"),
  };
}

/**
 * The worker script tfjs would start from a Blob, changed to load the threaded module from `module`.
 * Throws, naming the file, if the installed tfjs no longer has the script in the expected form.
 */
export function nodeWorkerScript(bundleText: string, module: string, bundleFile = "tf-backend-wasm.node.js"): string {
  const literal = /var wasmWorkerContents = ("(?:[^"\\]|\\.)*");/.exec(bundleText);
  if (!literal) throw new Error(`${bundleFile}: no embedded worker script (wasmWorkerContents) found; this tfjs version cannot run wasm threads in Node`);
  const script = JSON.parse(literal[1]) as string;
  const fromBlob = "var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}";
  if (!script.includes(fromBlob)) throw new Error(`${bundleFile}: its worker script loads the module in an unknown way; this tfjs version cannot run wasm threads in Node`);
  // The script is a string in the bundle: its "\n" escapes must stay escapes inside it, as tfjs's Blob keeps them.
  return `var THREADED_MODULE=${JSON.stringify(module)};` + script.replace(fromBlob, "importScripts(THREADED_MODULE)}").replace(/\n/g, "\\n");
}

let enabled = 0;

/** The threads the wasm backend was set up to run in this process (1 unless enableWasmThreads gave it more). */
export function wasmThreadsEnabled(): number {
  return enabled || 1;
}

/**
 * Let the wasm backend run `threads` threads (1 to 4) in Node. Returns what it set up; the backend
 * reports the pool it got through tfjs-backend-wasm's getThreadsCount().
 */
export function enableWasmThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > 4) throw new Error(`wasm threads must be a whole number from 1 to 4, got ${threads}`);
  if (threads === 1 || enabled > 0) return enabled || 1;
  const { bundle, module } = packageFiles();
  const script = nodeWorkerScript(fs.readFileSync(bundle, "utf8"), module, bundle);
  // The module takes `Worker` from worker_threads when it loads: give it one that starts tfjs's
  // Blob-URL workers from the script above. Workers do not keep the process alive.
  const workerThreads = require("worker_threads") as { Worker: WorkerCtor };
  const NodeWorker = workerThreads.Worker;
  workerThreads.Worker = class extends NodeWorker {
    constructor(file: string | URL, options?: Record<string, unknown>) {
      const fromBlob = typeof file === "string" && file.startsWith("blob:");
      super(fromBlob ? script : file, fromBlob ? { ...options, eval: true } : options);
      this.unref();
    }
  } as WorkerCtor;
  const tf = require("@tensorflow/tfjs") as typeof import("@tensorflow/tfjs");
  const wasm = require("@tensorflow/tfjs-backend-wasm") as { setThreadsCount(n: number): void };
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasm.setThreadsCount(threads);
  enabled = threads;
  return threads;
}

/**
 * Run `start` (the backend's initialisation) while the module is told of 2 x `threads` cores, so
 * that its halving leaves `threads`.
 */
export async function withCoresFor<T>(threads: number, start: () => Promise<T>): Promise<T> {
  if (threads <= 1) return start();
  const os = require("os") as { cpus: () => CpuInfo[] }; // the module object the wasm module itself reads
  const cpus = os.cpus;
  const one = cpus()[0];
  os.cpus = () => Array.from({ length: 2 * threads }, () => one);
  try {
    return await start();
  } finally {
    os.cpus = cpus;
  }
}

/**
 * XNNPACK's pool threads wait for work for as long as the process lives, and Emscripten keeps
 * their workers referenced, which would keep Node from exiting when a script ends: unreference
 * them once the backend has started.
 */
export function releaseWasmThreads(backend: unknown): void {
  const pthread = (backend as { wasm?: { PThread?: { runningWorkers?: { unref?(): void }[] } } }).wasm?.PThread;
  for (const worker of pthread?.runningWorkers ?? []) worker.unref?.();
}
