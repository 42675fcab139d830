/**
 * Assembles the library's hand-written WebAssembly (lib/wasm/*.wat) into the modules it loads:
 * each NAME.wat becomes NAME-binary.ts, the binary as base64, so that Node.js and a browser bundle
 * load it alike, without a file to fetch. test/wasm/binaries.test.ts checks that they agree.
 *
 *   npx tsx scripts/build-wasm.ts
 */
import * as fs from "fs";
import * as path from "path";

export const WASM_DIR = path.join(__dirname, "..", "lib", "wasm");

/** The binary of a WAT file, assembled by wabt with SIMD enabled. */
export async function assembleWat(file: string): Promise<Uint8Array> {
  const wabt = await (require("wabt") as () => Promise<{ parseWat(name: string, text: string, features: object): { resolveNames(): void; validate(): void; toBinary(options: object): { buffer: Uint8Array }; destroy(): void } }>)();
  const parsed = wabt.parseWat(path.basename(file), fs.readFileSync(file, "utf8"), { simd: true });
  try {
    parsed.resolveNames();
    parsed.validate();
    return parsed.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    parsed.destroy();
  }
}

/** The TypeScript module that carries a binary: its base64, 100 characters a line. */
export function binaryModuleSource(watName: string, bytes: Uint8Array): string {
  const base64 = Buffer.from(bytes).toString("base64");
  const lines = base64.match(/.{1,100}/g) ?? [];
  return `// ${watName} assembled by scripts/build-wasm.ts: do not edit; change the .wat and run that script.\nexport const WASM_BASE64 =\n${lines.map((l) => `  "${l}"`).join(" +\n")};\n`;
}

async function main(): Promise<void> {
  for (const file of fs.readdirSync(WASM_DIR).filter((f) => f.endsWith(".wat"))) {
    const wat = path.join(WASM_DIR, file);
    const bytes = await assembleWat(wat);
    const out = wat.replace(/\.wat$/, "-binary.ts");
    fs.writeFileSync(out, binaryModuleSource(file, bytes));
    console.log(`${path.relative(process.cwd(), out)}: ${bytes.length} bytes of WebAssembly`);
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
