import * as tf from "@tensorflow/tfjs";

// Following memory while a training step runs. followGpuBytes keeps the most bytes the webgpu
// backend held at once; trackMemory keeps a ledger of every allocation alive, each labelled when it
// is made with what made it, so that the allocations alive at the peak can be listed. On WebGPU an
// allocation is a GPU buffer from the backend's pool (tensors, uniforms, staging buffers for
// reads); on the other backends it is a tensor's data, as tfjs's engine registers it.

interface BufferManager {
  numBytesUsed: number;
  usedBuffers: Map<string, GpuBuffer[]>;
  acquireBuffer(...args: unknown[]): unknown;
  releaseBuffer(...args: unknown[]): void;
}

interface GpuBuffer {
  size: number;
  usage: number;
}

function bufferManager(): BufferManager | null {
  const manager = (tf.backend() as { bufferManager?: BufferManager }).bufferManager;
  return tf.getBackend() === "webgpu" && manager ? manager : null;
}

/** Follow the webgpu backend's bytes in use at every buffer it acquires; null off WebGPU. */
export function followGpuBytes(): { peak: () => number; stop: () => void } | null {
  const manager = bufferManager();
  if (!manager) return null;
  let peak = manager.numBytesUsed;
  const acquire = manager.acquireBuffer;
  manager.acquireBuffer = function (this: BufferManager, ...args: unknown[]) {
    const buffer = acquire.apply(this, args);
    peak = Math.max(peak, this.numBytesUsed);
    return buffer;
  };
  return { peak: () => peak, stop: () => void (manager.acquireBuffer = acquire) };
}

/**
 * Where the engine was when an allocation was made. tfjs's engine.gradients (behind
 * tf.variableGrads and tf.grads) runs the function inside a scope named "forward" and the
 * backpropagation inside one named "backward"; the innermost of the two on the engine's scope
 * stack is the pass. Outside both: the optimizer's update, reads, anything before or after.
 */
export type Phase = "forward" | "backward" | "outside gradients";

export interface Allocation {
  bytes: number;
  /**
   * What made it. On WebGPU: the key of the program whose output it is ("lorabook-..." for our
   * own kernels, tfjs's otherwise, without the shapes tfjs appends), "upload" for a tensor whose
   * values were made on the CPU, "uniforms", "read-back staging", "upload staging", "other", and
   * "before tracking" for a buffer already in use when tracking began (known by its size only).
   * Elsewhere: the kernel that made the tensor, or "(no kernel)".
   */
  label: string;
  /** The innermost tfjs kernel running when it was made ("custom op" for tf.customGrad and our customOp); null outside kernels. */
  kernel: string | null;
  /**
   * The shape and dtype of the first tensor registered with its data (a later reshape shares the
   * data, and keeps it); null for buffers that hold no tensor.
   */
  shape: number[] | null;
  dtype: string | null;
  phase: Phase;
  /**
   * WebGPU programs started through runWebGPUProgram (off WebGPU, kernels started) since tracking
   * started, when it was made. Adam in place encodes its dispatches itself: they are not counted.
   */
  dispatch: number;
  /** Its place in the order of allocations and releases since tracking started. */
  madeAt: number;
  /** When it was released; Infinity while alive. */
  freedAt: number;
}

/** Replace obj[name] by wrap(original); returns a function that puts the original back. */
function patch<T extends object, K extends keyof T>(obj: T, name: K, wrap: (original: T[K]) => T[K]): () => void {
  const own = Object.prototype.hasOwnProperty.call(obj, name);
  const original = obj[name];
  obj[name] = wrap(original);
  return () => {
    if (own) obj[name] = original;
    else delete obj[name];
  };
}

interface EngineInternals {
  runKernelFunc(params: { kernelName?: string }): unknown;
  state: {
    scopeStack: { name: string }[];
    tensorInfo: WeakMap<object, { bytes: number; shape: number[]; dtype: string }>;
  };
}

/** The engine's kernel stack and pass, followed by wrapping its runKernelFunc (through which every kernel and custom op runs). */
class EngineContext {
  private readonly kernels: string[] = [];
  kernelsRun = 0;
  readonly stop: () => void;

  constructor(private readonly engine: EngineInternals) {
    this.stop = patch(engine, "runKernelFunc", (original) => (params) => {
      this.kernelsRun++;
      this.kernels.push(params.kernelName ?? "custom op");
      try {
        return original.call(engine, params);
      } finally {
        this.kernels.pop();
      }
    });
  }

  kernel(): string | null {
    return this.kernels.length > 0 ? this.kernels[this.kernels.length - 1] : null;
  }

  phase(): Phase {
    const stack = this.engine.state.scopeStack;
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i].name === "forward") return "forward";
      if (stack[i].name === "backward") return "backward";
    }
    return "outside gradients";
  }
}

/** The allocations alive, by key, and enough history to list those alive at the peak since mark(). */
class Ledger {
  readonly live = new Map<object, Allocation>();
  private clock = 0;
  private total = 0;
  private markedAt = 0;
  private bytesAtMark = 0;
  private aliveAtMark: Allocation[] = [];
  private madeSinceMark: Allocation[] = [];
  private peak: { bytes: number; at: number; allocation: Allocation | null } = { bytes: 0, at: 0, allocation: null };

  add(key: object, made: Omit<Allocation, "madeAt" | "freedAt">): Allocation {
    const allocation: Allocation = { ...made, madeAt: ++this.clock, freedAt: Infinity };
    this.live.set(key, allocation);
    this.madeSinceMark.push(allocation);
    this.total += allocation.bytes;
    if (this.total > this.peak.bytes) this.peak = { bytes: this.total, at: this.clock, allocation };
    return allocation;
  }

  remove(key: object): void {
    const allocation = this.live.get(key);
    if (!allocation) return;
    allocation.freedAt = ++this.clock;
    this.live.delete(key);
    this.total -= allocation.bytes;
  }

  /** Start a new measurement: the peak from here on, and the allocations alive now. */
  mark(): void {
    this.markedAt = this.clock;
    this.bytesAtMark = this.total;
    this.aliveAtMark = [...this.live.values()];
    this.madeSinceMark = [];
    this.peak = { bytes: this.total, at: this.clock, allocation: null };
  }

  bytes(): number {
    return this.total;
  }

  /**
   * The most bytes alive at once since mark(), the allocation that first reached it (null: none
   * outgrew the bytes alive at the mark) and the allocations alive then; and the mark's time and bytes.
   */
  peakSinceMark(): { bytes: number; allocation: Allocation | null; alive: Allocation[]; markedAt: number; bytesAtMark: number } {
    const { bytes, at, allocation } = this.peak;
    const alive = [...this.aliveAtMark, ...this.madeSinceMark].filter((a) => a.madeAt <= at && a.freedAt > at);
    return { bytes, allocation, alive, markedAt: this.markedAt, bytesAtMark: this.bytesAtMark };
  }
}

export interface MemoryTracker {
  /** The key under which a tensor's memory is followed (its GPU buffer, or its data id); null if it has none on the device. */
  keyOf(t: tf.Tensor): object | null;
  /** The allocation alive under a key, if any. */
  allocationOf(key: object): Allocation | undefined;
  /** Start a measurement (see Ledger.peakSinceMark); returns the dispatch count now. */
  mark(): number;
  peakSinceMark(): ReturnType<Ledger["peakSinceMark"]>;
  /** Programs (off WebGPU, kernels) run since tracking started. */
  dispatches(): number;
  /** Bytes the backend counts that the ledger does not (0 when every allocation is followed); null where the backend counts none. */
  untrackedBytes(): number | null;
  stop(): void;
}

/** Start following every allocation of the current backend; stop() undoes every wrapper, in reverse order. */
export function trackMemory(): MemoryTracker {
  const engine = tf.engine() as unknown as EngineInternals;
  const context = new EngineContext(engine);
  const ledger = new Ledger();
  const manager = bufferManager();
  const followed = manager ? followBuffers(tf.backend() as unknown as WebGpuBackend, manager, engine, context, ledger) : followTensorData(engine, context, ledger);
  ledger.mark();
  return {
    keyOf: followed.keyOf,
    allocationOf: (key) => ledger.live.get(key),
    mark: () => {
      ledger.mark();
      return followed.dispatches();
    },
    peakSinceMark: () => ledger.peakSinceMark(),
    dispatches: followed.dispatches,
    untrackedBytes: () => (manager ? manager.numBytesUsed - ledger.bytes() : null),
    stop: () => {
      followed.stop();
      context.stop();
    },
  };
}

interface Followed {
  keyOf(t: tf.Tensor): object | null;
  dispatches(): number;
  stop(): void;
}

interface TensorData {
  shape: number[];
  dtype: string;
  values: unknown;
  resource: unknown;
}

interface WebGpuBackend {
  tensorMap: { get(dataId: object): TensorData | undefined };
  uploadToGPU(dataId: object): void;
  runWebGPUProgram(program: { shaderKey?: string }, ...rest: unknown[]): unknown;
}

/** The usage flags that tell a buffer's role apart (WebGPU's GPUBufferUsage, a global once Dawn is loaded). */
function usageFlags(): { UNIFORM: number; MAP_READ: number; MAP_WRITE: number } {
  return (globalThis as unknown as { GPUBufferUsage: { UNIFORM: number; MAP_READ: number; MAP_WRITE: number } }).GPUBufferUsage;
}

/**
 * Follow the webgpu backend's buffers: acquireBuffer and releaseBuffer move the bytes in use
 * (numBytesUsed), and runWebGPUProgram and uploadToGPU say what a new buffer is for. A program's
 * output buffer is acquired inside runWebGPUProgram by uploadToGPU of a tensor without values;
 * uploadToGPU of a tensor with values (made on the CPU) acquires its buffer to copy them in.
 * A buffer's shape is the backend's for its data, then the engine's once a tensor of that data is
 * registered: kernels often compute on a flattened view and hand back a reshape of it.
 */
function followBuffers(backend: WebGpuBackend, manager: BufferManager, engine: EngineInternals, context: EngineContext, ledger: Ledger): Followed {
  const usage = usageFlags();
  let program: string | null = null; // the key of the program running, if any
  let upload: { fromCpu: boolean } | null = null; // the tensor uploadToGPU is placing, if any
  let dispatches = 0;
  const labelOf = (flags: number): string => {
    if (flags & usage.UNIFORM) return "uniforms";
    if (flags & usage.MAP_READ) return "read-back staging";
    if (flags & usage.MAP_WRITE) return "upload staging";
    if (upload?.fromCpu) return "upload";
    if (upload) return program ?? "(no program)";
    return "other";
  };
  // Buffers in use before tracking began: known by size only.
  for (const buffers of manager.usedBuffers.values()) {
    for (const buffer of buffers) ledger.add(buffer, { bytes: buffer.size, label: "before tracking", kernel: null, shape: null, dtype: null, phase: "outside gradients", dispatch: 0 });
  }
  const restores = [
    patch(manager, "acquireBuffer", (original) => (...args: unknown[]) => {
      const before = manager.numBytesUsed;
      const buffer = original.apply(manager, args) as GpuBuffer;
      ledger.add(buffer, { bytes: manager.numBytesUsed - before, label: labelOf(buffer.usage), kernel: context.kernel(), shape: null, dtype: null, phase: context.phase(), dispatch: dispatches });
      return buffer;
    }),
    patch(manager, "releaseBuffer", (original) => (...args: unknown[]) => {
      const before = manager.numBytesUsed;
      original.apply(manager, args);
      if (manager.numBytesUsed !== before) ledger.remove(args[0] as object); // tfjs ignores a release while its pool has never been used
    }),
    patch(backend, "uploadToGPU", (original) => (dataId: object) => {
      const data = backend.tensorMap.get(dataId);
      const outer = upload;
      upload = { fromCpu: data?.values != null };
      const placedBefore = data?.resource;
      try {
        original.call(backend, dataId);
      } finally {
        upload = outer;
      }
      const allocation = data && data.resource !== placedBefore ? ledger.live.get(data.resource as object) : undefined;
      if (allocation && data) Object.assign(allocation, { shape: [...data.shape], dtype: data.dtype });
    }),
    patch(engine.state.tensorInfo, "set", (original) => (dataId: object, info: { bytes: number; shape: number[]; dtype: string }) => {
      const isNew = !engine.state.tensorInfo.has(dataId);
      const result = original.call(engine.state.tensorInfo, dataId, info);
      const resource = isNew ? backend.tensorMap.get(dataId)?.resource : undefined;
      const allocation = resource ? ledger.live.get(resource as object) : undefined;
      if (allocation?.shape) Object.assign(allocation, { shape: [...info.shape], dtype: info.dtype });
      return result;
    }),
    patch(backend, "runWebGPUProgram", (original) => (p: { shaderKey?: string; constructor: { name: string } }, ...rest: unknown[]) => {
      const outer = program;
      program = p.shaderKey ?? p.constructor.name; // tfjs appends shapes and types to the key inside
      dispatches++;
      try {
        return original.call(backend, p, ...rest);
      } finally {
        program = outer;
      }
    }),
  ];
  return {
    keyOf: (t) => (backend.tensorMap.get(t.dataId)?.resource as object | null | undefined) ?? null,
    dispatches: () => dispatches,
    stop: () => restores.reverse().forEach((restore) => restore()),
  };
}

/**
 * Follow tensors' data as the engine registers it: an entry in its tensorInfo map per data id
 * (shared by a tensor's reshapes and clones), removed once the backend has freed the data.
 * tf.memory().numBytes counts every tensor of shared data again; this counts the data once.
 */
function followTensorData(engine: EngineInternals, context: EngineContext, ledger: Ledger): Followed {
  const map = engine.state.tensorInfo;
  const restores = [
    patch(map, "set", (original) => (dataId: object, info: { bytes: number; shape: number[]; dtype: string }) => {
      const isNew = !map.has(dataId);
      const result = original.call(map, dataId, info);
      if (isNew) {
        ledger.add(dataId, { bytes: info.bytes, label: context.kernel() ?? "(no kernel)", kernel: context.kernel(), shape: [...info.shape], dtype: info.dtype, phase: context.phase(), dispatch: context.kernelsRun });
      }
      return result;
    }),
    patch(map, "delete", (original) => (dataId: object) => {
      ledger.remove(dataId);
      return original.call(map, dataId);
    }),
  ];
  return {
    keyOf: (t) => (map.has(t.dataId) ? t.dataId : null),
    dispatches: () => context.kernelsRun,
    stop: () => restores.reverse().forEach((restore) => restore()),
  };
}
