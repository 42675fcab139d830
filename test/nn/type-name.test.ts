import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { buildSync } from "esbuild";
import { Module, Linear, LoRALayer, Sequential, ReLU, printModel } from "../../lib";
import { useTestBackend } from "../helpers/backend";
import { printSampleModels, sampleClassNames } from "../helpers/sample-models";
import { tsFiles } from "../helpers/files";

// print(model) takes each module's name from its class's static typeName, never from the class's
// own name, which bundlers and minifiers change: the printed tree is the same in a renamed bundle.

const ROOT = path.resolve(__dirname, "..", "..");

beforeAll(() => useTestBackend());

describe("every Module class names itself", () => {
  /** Each class declared in `source`: its name, what it extends, and the string its static typeName is set to. */
  function classes(source: string, where: string): { name: string; base: string | null; typeName: string | null; where: string }[] {
    const file = ts.createSourceFile(where, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const found: { name: string; base: string | null; typeName: string | null; where: string }[] = [];
    const visit = (node: ts.Node) => {
      if (ts.isClassDeclaration(node) && node.name) {
        const extended = node.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]?.expression;
        const field = node.members.find(
          (m): m is ts.PropertyDeclaration =>
            ts.isPropertyDeclaration(m) && ts.isIdentifier(m.name) && m.name.text === "typeName" && (ts.getCombinedModifierFlags(m) & ts.ModifierFlags.Static) !== 0,
        );
        found.push({
          name: node.name.text,
          base: extended && ts.isIdentifier(extended) ? extended.text : null,
          typeName: field?.initializer && ts.isStringLiteral(field.initializer) ? field.initializer.text : null,
          where,
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
    return found;
  }


  const declared = [
    ...tsFiles(path.join(ROOT, "lib")).flatMap((file) => classes(fs.readFileSync(file, "utf8"), path.relative(ROOT, file))),
    ...fs
      .readdirSync(path.join(ROOT, "notebooks"))
      .filter((name) => name.endsWith(".ipynb"))
      .flatMap((name) => {
        const notebook = JSON.parse(fs.readFileSync(path.join(ROOT, "notebooks", name), "utf8")) as { cells: { cell_type: string; source: string | string[] }[] };
        return notebook.cells.flatMap((cell, index) =>
          cell.cell_type === "code" ? classes(Array.isArray(cell.source) ? cell.source.join("") : cell.source, `notebooks/${name} cell ${index}`) : [],
        );
      }),
  ];

  /** The classes that extend Module, directly or through another such class. */
  function moduleClasses() {
    const modules = new Set(["Module"]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const c of declared) {
        if (c.base && modules.has(c.base) && !modules.has(c.name)) {
          modules.add(c.name);
          grew = true;
        }
      }
    }
    return declared.filter((c) => c.name !== "Module" && modules.has(c.name));
  }

  test("each sets static typeName to its own class name", () => {
    const found = moduleClasses();
    expect(found.map((c) => c.name)).toEqual(expect.arrayContaining(["Linear", "LoRALayer", "ModuleList", "GELUActivation", "DistilBertForSequenceClassification", "MultilayerPerceptron"]));
    const wrong = found.filter((c) => c.typeName !== c.name).map((c) => `${c.where}: class ${c.name} has typeName ${JSON.stringify(c.typeName)}`);
    expect(wrong).toEqual([]);
  });
});

describe("print(model) does not depend on class names", () => {
  test("a bundle minified without keepNames, whose classes are renamed, prints the same text", () => {
    // One entry that prints the sample models, bundled with lib/ as a minifier would ship it;
    // packages stay outside the bundle, so it runs on this process's tfjs and backend.
    const bundle = buildSync({
      stdin: {
        contents: 'export { printSampleModels, sampleClassNames } from "./test/helpers/sample-models";',
        resolveDir: ROOT,
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "cjs",
      packages: "external",
      minifyIdentifiers: true,
      keepNames: false,
      write: false,
      logLevel: "silent",
    });
    const module = { exports: {} as { printSampleModels: () => string[]; sampleClassNames: () => string[] } };
    new Function("require", "module", "exports", bundle.outputFiles[0].text)(require, module, module.exports);
    const bundled = module.exports;

    // The bundle really renamed the classes...
    expect(sampleClassNames()).toEqual(["Linear", "ReLU", "LoRALayer"]);
    for (const name of bundled.sampleClassNames()) expect(["Linear", "ReLU", "LoRALayer"]).not.toContain(name);
    // ...and prints what the library prints.
    const expected = printSampleModels();
    expect(bundled.printSampleModels()).toEqual(expected);
    expect(expected[0]).toContain("DistilBertForSequenceClassification(\n  (distilbert): DistilBertModel(");
    expect(expected[0]).toContain("(q_lin): LinearWithLoRA(");
    expect(expected[2]).toContain("(6): ModuleList(\n    (0-1): 2 x LoRALayer()\n  )");
  });

  test("classes whose name property was changed print the same text", () => {
    const text = () => printModel(new Sequential(new Linear(2, 3), new ReLU(), new LoRALayer(3, 3, 1, 1)));
    const before = text();
    const renamed = [Linear, ReLU, LoRALayer, Sequential];
    const names = renamed.map((type) => Object.getOwnPropertyDescriptor(type, "name")!);
    try {
      renamed.forEach((type, i) => Object.defineProperty(type, "name", { value: `x${i}`, configurable: true }));
      expect(Linear.name).toBe("x0");
      expect(text()).toBe(before);
    } finally {
      renamed.forEach((type, i) => Object.defineProperty(type, "name", names[i]));
    }
    expect(Linear.name).toBe("Linear");
    expect(before).toBe("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n  (2): LoRALayer()\n)");
  });

  test("a subclass that sets no typeName prints its nearest named ancestor's, marked", () => {
    class Unnamed extends Module {
      forward(x: import("@tensorflow/tfjs").Tensor) {
        return x;
      }
    }
    class Biased extends Linear {}
    class Named extends Biased {
      static override typeName = "Named";
    }
    class UnderNamed extends Named {}
    expect(printModel(new Unnamed())).toBe("<subclass of Module without typeName>()");
    expect(printModel(new Biased(2, 2))).toBe("<subclass of Linear without typeName>(in_features=2, out_features=2, bias=True)");
    expect(printModel(new Named(2, 2))).toBe("Named(in_features=2, out_features=2, bias=True)");
    expect(new UnderNamed(2, 2).getName()).toBe("<subclass of Named without typeName>");
    // The name shows in the module's errors too.
    expect(() => new Sequential(new Biased(2, 2)).getSubmodule("0.nothing")).toThrow('<subclass of Linear without typeName> has no child module "nothing"');
  });
});
