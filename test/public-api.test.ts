import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { tsFiles } from "./helpers/files";

// The notebooks use the library only through its public API, lib/index.ts (and the book's own
// helpers in lib/book.ts), so whatever a chapter shows a reader works from that one import; and no
// file of lib/ imports lib/index.ts, which imports them all, so there is no import cycle through it.

const ROOT = path.resolve(__dirname, "..");
const LIB = path.join(ROOT, "lib");
const INDEX = path.join(LIB, "index.ts");
const ALLOWED = ["./lib/index", "./lib/book"];

/** The module specifiers `source` imports or re-exports from, and the names it imports from each. */
function imports(source: string, where: string): { from: string; names: string[] }[] {
  const file = ts.createSourceFile(where, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: { from: string; names: string[] }[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const bindings = ts.isImportDeclaration(node) ? node.importClause?.namedBindings : undefined;
      const names = bindings && ts.isNamedImports(bindings) ? bindings.elements.map((e) => (e.propertyName ?? e.name).text) : [];
      found.push({ from: node.moduleSpecifier.text, names });
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require" && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push({ from: node.arguments[0].text, names: [] });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}


const notebooks = fs.readdirSync(path.join(ROOT, "notebooks")).filter((name) => name.endsWith(".ipynb")).sort();

function notebookImports(name: string): { from: string; names: string[]; where: string }[] {
  const notebook = JSON.parse(fs.readFileSync(path.join(ROOT, "notebooks", name), "utf8")) as { cells: { cell_type: string; source: string | string[] }[] };
  return notebook.cells.flatMap((cell, index) => {
    if (cell.cell_type !== "code") return [];
    const where = `${name} cell ${index}`;
    return imports(Array.isArray(cell.source) ? cell.source.join("") : cell.source, where).map((i) => ({ ...i, where }));
  });
}

test("no file of lib/ imports lib/index.ts", () => {
  const offenders = tsFiles(LIB)
    .filter((file) => file !== INDEX)
    .flatMap((file) =>
      imports(fs.readFileSync(file, "utf8"), file)
        .filter((i) => i.from.startsWith("."))
        .filter((i) => {
          const target = path.resolve(path.dirname(file), i.from);
          return target === LIB || target === path.join(LIB, "index") || target === INDEX;
        })
        .map((i) => `${path.relative(ROOT, file)} imports "${i.from}"`),
    );
  expect(offenders).toEqual([]);
});

test.each(notebooks)("%s imports only lib/index, lib/book and packages", (name) => {
  const found = notebookImports(name);
  expect(found.some((i) => i.from === "./lib/index")).toBe(true);
  const outside = found.filter((i) => i.from.startsWith(".") && !ALLOWED.includes(i.from)).map((i) => `${i.where}: "${i.from}"`);
  expect(outside).toEqual([]);
});

test("every name the notebooks import from lib/index is exported there", () => {
  const program = ts.createProgram([INDEX], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, strict: true, skipLibCheck: true, noEmit: true, types: [] });
  const checker = program.getTypeChecker();
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!).map((s) => s.name));
  const missing = notebooks.flatMap((name) =>
    notebookImports(name)
      .filter((i) => i.from === "./lib/index")
      .flatMap((i) => i.names.filter((n) => !exported.has(n)).map((n) => `${i.where}: ${n}`)),
  );
  expect(missing).toEqual([]);
  // And what a user of the library needs beyond the notebooks' own use.
  for (const name of ["Module", "train", "TrainConfig", "Adam", "evaluateAccuracy", "showFigure", "PlotlyFigure", "pct", "manualSeed", "saveAdapter", "tensorBatches", "loadTokenizedSplit", "pretrainMlm"]) {
    expect(exported).toContain(name);
  }
});
