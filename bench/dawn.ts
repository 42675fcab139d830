// Dawn toggles for a benchmark run, e.g. --dawn enable-dawn-features=disable_robustness: the GPU
// is created with them before initBackend, which then uses it (initBackend creates one only if
// navigator.gpu is missing).
export function useDawnFlags(flags: string | undefined): void {
  if (!flags) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { create, globals } = require("webgpu") as { create: (flags: string[]) => unknown; globals: object };
  Object.assign(globalThis, globals);
  const g = globalThis as unknown as { navigator?: object };
  g.navigator = { ...(g.navigator ?? {}), gpu: create(flags.split(" ")) };
}
