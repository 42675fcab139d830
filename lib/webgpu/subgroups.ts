import * as tf from "@tensorflow/tfjs";

// WGSL's subgroup operations: threads of one subgroup (a warp on NVIDIA, 32 threads) read each
// other's registers, with no workgroup memory and no barrier. A device has them only if it was
// asked for the "subgroups" feature, and tfjs's webgpu backend asks for its own few features, so the
// adapter it gets is wrapped here to ask for this one too where the adapter offers it. A shader
// that uses them must open with `enable subgroups;`, but tfjs puts a kernel's code after its own
// declarations: the device's createShaderModule lifts such directives to the module's top.

interface Adapter {
  features: { has(name: string): boolean };
  requestDevice(descriptor?: { requiredFeatures?: Iterable<string> } & object): Promise<unknown>;
}

interface Gpu {
  requestAdapter(options?: object): Promise<Adapter | null>;
}

const wrapped = new WeakSet<object>();

/** Make the adapters `gpu` returns ask their devices for "subgroups" too, where they offer it. */
export function askForSubgroups(gpu: Gpu): void {
  if (wrapped.has(gpu)) return;
  wrapped.add(gpu);
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options?: object) => {
    const adapter = await requestAdapter(options);
    if (!adapter || !adapter.features.has("subgroups")) return adapter;
    const requestDevice = adapter.requestDevice.bind(adapter);
    // The adapter is a host object whose other members tfjs reads too: the wrapper forwards them.
    return new Proxy(adapter, {
      get(target, key) {
        if (key === "requestDevice") {
          return (descriptor: { requiredFeatures?: Iterable<string> } = {}) => {
            const features = [...(descriptor.requiredFeatures ?? [])];
            return requestDevice({ ...descriptor, requiredFeatures: features.includes("subgroups") ? features : [...features, "subgroups"] });
          };
        }
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
}

interface Device {
  features: { has(name: string): boolean };
  createShaderModule(descriptor: { code: string } & object): unknown;
}

const lifted = new WeakSet<object>();

/** WGSL with its `enable ...;` directives moved to the top, where the language requires them. */
export function liftEnableDirectives(code: string): string {
  const directive = /^[ \t]*enable [a-z0-9_, ]+;[ \t]*$/gm;
  const found = code.match(directive);
  if (!found) return code;
  const unique = [...new Set(found.map((d) => d.trim()))];
  return `${unique.join("\n")}\n${code.replace(directive, "")}`;
}

/** Make the webgpu backend's device lift enable directives in every shader module it makes (idempotent). */
export function prepareSubgroups(backend: unknown): void {
  const device = (backend as { device?: Device }).device;
  if (!device || lifted.has(device)) return;
  lifted.add(device);
  const create = device.createShaderModule.bind(device);
  device.createShaderModule = (descriptor) => create({ ...descriptor, code: liftEnableDirectives(descriptor.code) });
}

/** Whether the current webgpu backend's device has WGSL's subgroup operations. */
export function hasSubgroups(): boolean {
  if (tf.getBackend() !== "webgpu") return false;
  const device = (tf.backend() as unknown as { device?: Device }).device;
  return device?.features.has("subgroups") ?? false;
}

// Sums over a group of `lanes` neighbouring threads (lanes a power of two, at most 4, the size of a
// quad: WebGPU's smallest subgroup), as WGSL over named values. Each thread holds `values`, partial
// sums of the same N quantities. A reduce-scatter leaves thread `lane` of the group with the full
// sums of N / lanes of them, its block of the list: lane 0 the first N / lanes, lane 1 the next. At
// each step a thread keeps half its list and sends its partner the other half (a shuffle across the
// step's bit of the lane), N (lanes - 1) / lanes shuffles in all; an all-reduce would take
// N log2(lanes). An all-gather is the way back: each thread's block to every thread of its group.

/** WGSL `let` lines after which thread `lane` holds the sums of its block of `values`; returns the lines and the block's names. */
export function reduceScatter(prefix: string, values: string[], lanes: number, lane = "lane"): { code: string; owned: string[] } {
  checkLanes(values.length, lanes);
  const lines: string[] = [];
  let current = values;
  for (let bit = lanes / 2, step = 0; bit >= 1; bit /= 2, step++) {
    const half = current.length / 2;
    const upper = `((${lane} & ${bit}) != 0)`;
    const next = current.slice(0, half).map((low, i) => {
      const high = current[half + i];
      const name = `${prefix}${step}_${i}`;
      lines.push(`let ${name} = select(${low}, ${high}, ${upper}) + subgroupShuffleXor(select(${high}, ${low}, ${upper}), ${bit}u);`);
      return name;
    });
    current = next;
  }
  return { code: lines.join("\n"), owned: current };
}

/** WGSL `let` lines after which every thread of the group holds the whole list, each lane's `mine` in lane order. */
export function allGather(prefix: string, mine: string[], lanes: number, lane = "lane"): { code: string; all: string[] } {
  checkLanes(mine.length * lanes, lanes);
  const lines: string[] = [];
  let current = mine;
  for (let bit = 1, step = 0; bit < lanes; bit *= 2, step++) {
    const upper = `((${lane} & ${bit}) != 0)`;
    const received = current.map((value, i) => {
      const name = `${prefix}r${step}_${i}`;
      lines.push(`let ${name} = subgroupShuffleXor(${value}, ${bit}u);`);
      return name;
    });
    // The lower lane's block comes first: a thread of the upper lane puts what it received first.
    const low = current.map((_, i) => `${prefix}${step}_${i}`);
    const high = current.map((_, i) => `${prefix}${step}_${current.length + i}`);
    current.forEach((value, i) => {
      lines.push(`let ${low[i]} = select(${value}, ${received[i]}, ${upper});`);
      lines.push(`let ${high[i]} = select(${received[i]}, ${value}, ${upper});`);
    });
    current = [...low, ...high];
  }
  return { code: lines.join("\n"), all: current };
}

function checkLanes(count: number, lanes: number): void {
  if (![1, 2, 4].includes(lanes)) throw new Error(`subgroup sums: ${lanes} lanes; a group is 1, 2 or 4 threads (a quad)`);
  if (count % lanes !== 0) throw new Error(`subgroup sums: ${count} values do not split over ${lanes} lanes`);
}
