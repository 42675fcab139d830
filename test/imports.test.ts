import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

// The library's dependencies run one way, so each layer can be read (and bundled) without the ones
// above it: io and util at the bottom, then nn, then lora and the models, then data, train and the
// book; the WebGPU and WebAssembly kernels sit beside them and reach down into the modules they replace, never the
// other way round. Read with TypeScript's own parser: type-only imports vanish when compiled and are
// left out.

const ROOT = path.resolve(__dirname, "..");

/** The files each file imports at run time (relative specifiers resolved to .ts files). */
function importGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string) => {
    if (graph.has(file)) return;
    const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
    const targets: string[] = [];
    const add = (specifier: ts.Expression | undefined) => {
      if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith(".")) return;
      const base = path.resolve(path.dirname(file), specifier.text);
      const resolved = [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
      if (resolved?.endsWith(".ts")) targets.push(resolved);
    };
    for (const statement of source.statements) {
      if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) add(statement.moduleSpecifier);
      else if (ts.isExportDeclaration(statement) && !statement.isTypeOnly) add(statement.moduleSpecifier);
    }
    // require("./x") in the code, as a lazily loaded module
    const walk = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require") add(node.arguments[0]);
      ts.forEachChild(node, walk);
    };
    walk(source);
    graph.set(file, targets);
    targets.forEach(visit);
  };
  for (const dir of dirs) {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]) {
      if (entry.endsWith(".ts") && !entry.endsWith(".d.ts") && !entry.split(path.sep).includes("node_modules")) visit(path.join(ROOT, dir, entry));
    }
  }
  return graph;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.map((f) => path.relative(ROOT, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) connect(v);
  return found;
}

const graph = importGraph(["lib", "scripts", "bench"]);
const rel = (f: string) => path.relative(ROOT, f);
const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => [rel(from), rel(to)] as const));

test("no import cycle in lib/, scripts/ or bench/", () => {
  expect(graph.size).toBeGreaterThan(80);
  expect(cycles(graph)).toEqual([]);
});

// What each folder of lib/ may import at run time, besides itself and tfjs.
const ALLOWED: Record<string, string[]> = {
  util: [],
  io: ["util"],
  nn: ["util", "io"],
  lora: ["nn", "util", "io"],
  models: ["nn", "util", "io"],
  data: ["nn", "util", "io"],
  train: ["models", "lora", "nn", "data", "util", "io", "backend", "webgpu"],
  webgpu: ["models", "lora", "nn", "util", "io"],
  backend: ["webgpu", "wasm", "wasm-threads", "util", "io"],
  wasm: ["nn"],
  "wasm-threads": [],
  book: ["train", "models", "lora", "nn", "data", "util", "io", "backend"],
};
const layerOf = (file: string) => file.split("/")[1].replace(/\.ts$/, "");

test("lib/'s layers import only the layers below them", () => {
  const backward = edges
    .filter(([from, to]) => from.startsWith("lib/") && to.startsWith("lib/"))
    .filter(([from, to]) => to !== "lib/index.ts" || from === "lib/index.ts")
    .filter(([from, to]) => {
      const [a, b] = [layerOf(from), layerOf(to)];
      return a !== "index" && a !== b && !(ALLOWED[a] ?? []).includes(b);
    })
    .map(([from, to]) => `${from} -> ${to}`);
  expect(backward).toEqual([]);
});

test("the model, nn and lora import nothing from the WebGPU kernels or the backend", () => {
  const reaching = edges.filter(([from, to]) => /^lib\/(models|nn|lora)\//.test(from) && /^lib\/(webgpu\/|backend\.ts)/.test(to));
  expect(reaching.map(([from, to]) => `${from} -> ${to}`)).toEqual([]);
});

test("test/ mirrors lib/: a folder of tests for each folder of lib/, and no other folder but the book's, the notebooks', the benchmarks', helpers and fixtures", () => {
  const folders = (dir: string) => fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const libFolders = folders("lib");
  const hasTests = (dir: string) => fs.readdirSync(path.join(ROOT, "test", dir)).some((f) => f.endsWith(".test.ts"));
  expect(libFolders.filter((dir) => !fs.existsSync(path.join(ROOT, "test", dir)) || !hasTests(dir))).toEqual([]);
  expect(folders("test").filter((dir) => !libFolders.includes(dir) && !["book", "notebooks", "bench", "helpers", "fixtures"].includes(dir))).toEqual([]);
});
