// Loading the library's WebAssembly modules (lib/wasm/*.wat, carried as base64 by the
// *-binary.ts files that scripts/build-wasm.ts writes) and sizing their memories.

function decodeBase64(text: string): Uint8Array {
  if (typeof Buffer !== "undefined") return new Uint8Array(Buffer.from(text, "base64"));
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * A module's exports, compiled on first use. The modules are each under a few kilobytes, so they
 * compile synchronously, which browsers allow on the main thread at that size. Throws where the
 * engine lacks WebAssembly's 128-bit SIMD.
 */
export function lazyModule<T extends { memory: WebAssembly.Memory }>(base64: string): () => T {
  let exports: T | null = null;
  return () => {
    exports ??= new WebAssembly.Instance(new WebAssembly.Module(decodeBase64(base64) as BufferSource)).exports as unknown as T;
    return exports;
  };
}

/** The module's memory as floats, grown to hold at least `floats` of them. */
export function floatsOf(memory: WebAssembly.Memory, floats: number): Float32Array {
  const bytes = 4 * floats;
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
  return new Float32Array(memory.buffer);
}
