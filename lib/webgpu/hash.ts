// FNV-1a over 32-bit words, for cache keys built per dispatch: a string key costs more CPU to build
// and look up than some of the work its cache saves (a CPU profile on the H200's host, results/benchmark/cpu-profile/lora-qv-r8.txt).

export const FNV_START = 0x811c9dc5;

/** h with the 32-bit integer v mixed in. */
export function mix(h: number, v: number): number {
  return Math.imul(h ^ v, 16777619);
}
