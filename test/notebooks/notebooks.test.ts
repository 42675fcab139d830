import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { executeNotebook } from "../../scripts/notebook/execute";
import { PROJECT_ROOT } from "../../scripts/notebook/kernel";
import { preparedImdb } from "../helpers/assets";

// The book and the library never drift: every class, function, interface or type that a notebook
// defines and lib/ also defines must be the same code (up to `export`, which tslab cells may not use,
// and formatting). And chapter 00 must run on the real tslab kernel, with the outputs its text describes.

const NOTEBOOKS = path.join(PROJECT_ROOT, "notebooks");

type Declarations = Map<string, { text: string; where: string }>;

function declarations(source: string, where: string): Declarations {
  const file = ts.createSourceFile(where, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: Declarations = new Map();
  for (const statement of file.statements) {
    if (
      (ts.isClassDeclaration(statement) || ts.isFunctionDeclaration(statement) || ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) &&
      statement.name
    ) {
      // the declaration with its own doc comment, not the comments above it
      found.set(statement.name.text, { text: normalise(source.slice(statement.getStart(file, true), statement.end)), where });
    }
  }
  return found;
}

/** Same code: no `export`, no trailing spaces, no blank-line or indentation differences at the ends. */
function normalise(text: string): string {
  return text
    .replace(/^\s*export (?:default )?/gm, (match) => match.replace(/export (?:default )?/, ""))
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .trim();
}

function libDeclarations(): Declarations {
  const all: Declarations = new Map();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts")) for (const [name, d] of declarations(fs.readFileSync(full, "utf8"), path.relative(PROJECT_ROOT, full))) all.set(name, d);
    }
  };
  walk(path.join(PROJECT_ROOT, "lib"));
  return all;
}

const notebooks = fs.readdirSync(NOTEBOOKS).filter((name) => name.endsWith(".ipynb")).sort();

test("there are notebooks, and chapter 00 defines the library's LoRA classes itself", () => {
  expect(notebooks).toContain("00_lora_layer.ipynb");
});

describe.each(notebooks)("%s shows the library's code as it is", (name) => {
  test("every declaration shared with lib/ is identical", () => {
    const notebook = JSON.parse(fs.readFileSync(path.join(NOTEBOOKS, name), "utf8"));
    const lib = libDeclarations();
    const shared: string[] = [];
    notebook.cells.forEach((cell: { cell_type: string; source: string | string[] }, index: number) => {
      if (cell.cell_type !== "code") return;
      const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
      for (const [declName, mine] of declarations(source, `${name} cell ${index}`)) {
        const theirs = lib.get(declName);
        if (!theirs) continue;
        shared.push(declName);
        if (mine.text !== theirs.text) {
          throw new Error(`${declName} in ${mine.where} differs from ${theirs.where}:\n--- notebook\n${mine.text}\n--- lib\n${theirs.text}`);
        }
      }
    });
    if (name === "00_lora_layer.ipynb") {
      expect(shared.sort()).toEqual(["LinearWithLoRA", "LinearWithLoRAMerged", "LoRALayer", "LoRAScaling", "MultilayerPerceptron", "loraScale"]);
    }
  });
});

test("chapter 00 executes on the tslab kernel, and shows what its text says", async () => {
  const result = await executeNotebook(path.join(NOTEBOOKS, "00_lora_layer.ipynb"), { kernelCwd: PROJECT_ROOT, outPath: null, timeoutMs: 120_000 });
  const text = result.cells
    .flatMap((cell) => cell.outputs)
    .map((output) => ("text" in output ? (Array.isArray(output.text) ? output.text.join("") : output.text) : ""))
    .join("");
  expect(text).toContain("LoRALayer()");
  expect(text).toContain("largest difference: 0\n"); // LoRA starts as a no-op
  expect(text).toContain("trainable: 816 of 3666 parameters");
  expect(text).toContain("frozen weights that changed: []");
  expect(text).toContain("merged layers: 3");
  expect(text).toMatch(/task B accuracy after LoRA: (9\d|100)\.\d%/);
  const merged = Number(/largest difference after merging: ([\d.e-]+)/.exec(text)![1]);
  expect(merged).toBeLessThan(1e-4);
  const figures = result.cells.flatMap((cell) => cell.outputs).filter((o) => o.output_type === "display_data" && "application/vnd.plotly.v1+json" in o.data);
  expect(figures).toHaveLength(1);
});

test("chapter 06 executes: an adapter saved in PEFT's format loads back and merges to the same outputs", async () => {
  const result = await executeNotebook(path.join(NOTEBOOKS, "06_adapters.ipynb"), { kernelCwd: PROJECT_ROOT, outPath: null, timeoutMs: 120_000 });
  const text = result.cells
    .flatMap((cell) => cell.outputs)
    .map((output) => ("text" in output ? (Array.isArray(output.text) ? output.text.join("") : output.text) : ""))
    .join("");
  expect(text).toContain("lora_alpha: 64");
  expect(text).toContain("largest difference from the model that saved it: 0\n");
  expect(Number(/largest difference after merging: ([\d.e-]+)/.exec(text)![1])).toBeLessThan(1e-5);
  expect(text).toMatch(/LoRA q, v \(r=8\)\s+147,456 values/);
}, 180_000);

describe("chapters 01–05 and 07 execute on the quick profile, on the real IMDb splits", () => {
  beforeAll(async () => {
    await preparedImdb(); // from the archive in the mirror or the download, if not prepared yet
  }, 120_000);

  async function run(name: string) {
    const result = await executeNotebook(path.join(NOTEBOOKS, name), { kernelCwd: PROJECT_ROOT, outPath: null, timeoutMs: 1_800_000 });
    const outputs = result.cells.flatMap((cell) => cell.outputs);
    const text = outputs.map((o) => ("text" in o ? (Array.isArray(o.text) ? o.text.join("") : o.text) : "")).join("");
    const figures = outputs.filter((o) => o.output_type === "display_data" && "application/vnd.plotly.v1+json" in o.data).length;
    const html = outputs.filter((o) => o.output_type === "display_data" && "text/html" in o.data).length;
    return { text, figures, html };
  }
  const accuracies = /train accuracy: +(–|\d+\.\d\d%)\nvalidation accuracy: \d+\.\d\d%\ntest accuracy: +\d+\.\d\d%/;
  /** The test accuracy a chapter prints, in percent: on the small pretrained backbone, well above chance (50%). */
  const testAccuracy = (text: string) => Number(/test accuracy: +(\d+\.\d\d)%/.exec(text)![1]);

  test("01: the split, the tokenizer, the frozen model with its head trainable, training and its figures", async () => {
    const { text, figures } = await run("01_finetune_last_layers.ipynb");
    expect(text).toContain("train   35,000  17,439  17,561  50.17");
    expect(text).toContain("'un',        '##bel'");
    expect(text).toContain("trainable: 16,770 of 4,782,466 parameters"); // 128*128+128 + 128*2+2
    expect(text).toMatch(accuracies);
    expect(testAccuracy(text)).toBeGreaterThanOrEqual(65);
    expect(figures).toBe(2);
  }, 1_200_000);

  test("02: the tutorial's assignment loop puts LinearWithLoRA in q_lin and v_lin, and only A and B train", async () => {
    const { text, figures } = await run("02_finetune_with_lora.ipynb");
    expect(text).toContain("(q_lin): LinearWithLoRA(");
    expect(text).toContain("trainable: 16,384 of 4,798,850 parameters"); // 4 layers x 2 x 8 x (128 + 128)
    expect(text).toMatch(accuracies);
    expect(testAccuracy(text)).toBeGreaterThanOrEqual(65);
    // Beside chapter 01's run (the test above): LoRA ahead of the head alone, as in the tutorial.
    const lastLayers = Number(/last layers \(chapter 01\): (\d+\.\d\d)% test accuracy/.exec(text)![1]);
    const lora = Number(/LoRA q\+v, r=8, alpha=16: +(\d+\.\d\d)% test accuracy/.exec(text)![1]);
    expect(lora).toBeGreaterThan(lastLayers);
    expect(figures).toBe(1);
  }, 1_800_000);

  test("03: a corner of the grid, its table and a heatmap per set of layers; the grid run on a GPU", async () => {
    const { text, figures, html } = await run("03_grid_search.ipynb");
    expect(text).toContain("8 points");
    expect(html).toBe(1);
    // A heatmap per layer set of the quick profile's corner, and one per layer set of the GPU grid (results/grid/).
    expect(text).toMatch(/NVIDIA H100 80GB HBM3 \(nvidia-smi\), through WebGPU .*\. Finished: all 40 points/);
    expect(figures).toBe(4);
  }, 1_800_000);

  test("04: full fine-tuning trains every parameter", async () => {
    const { text } = await run("04_finetune_all_layers.ipynb");
    expect(text).toContain("trainable: 4,782,466 of 4,782,466 parameters");
    expect(testAccuracy(text)).toBeGreaterThanOrEqual(65);
    expect(text).toContain("for distilbert-base: 66,955,010 / 147,456 = 454 times");
    expect(text).toMatch(accuracies);
  }, 1_800_000);

  test("07: masking at 15% and 80/10/10, the tied head, the loss from ln(30,522) toward the token frequencies' entropy, a bf16 hand-off", async () => {
    const { text, figures } = await run("07_pretraining.ipynb");
    const shares = /chosen: ([\d.]+)% of [\d,]+ real tokens; of those \[MASK\] ([\d.]+)%, random ([\d.]+)%, kept ([\d.]+)%/.exec(text)!;
    const [chosen, mask, random, kept] = shares.slice(1).map(Number);
    expect(Math.abs(chosen - 15)).toBeLessThan(0.5);
    expect(Math.abs(mask - 80)).toBeLessThan(1);
    expect(Math.abs(random - 10)).toBeLessThan(1);
    expect(Math.abs(kept - 10)).toBeLessThan(1);
    expect(text).toContain("projector weight is the word embeddings: true");
    const fresh = /fresh model: ([\d.]+); uniform guess ln\(30522\) = 10\.33; token frequencies of the 35,000 reviews: ([\d.]+)/.exec(text)!;
    expect(Math.abs(Number(fresh[1]) - Math.log(30522))).toBeLessThan(0.1);
    const unigram = Number(fresh[2]);
    expect(unigram).toBeGreaterThan(6);
    expect(unigram).toBeLessThan(7.5);
    // 80 steps take the loss most of the way from the uniform guess down to the frequencies line.
    const trained = Number(/80 steps in \d+ s; loss [\d.]+ -> ([\d.]+) \(mean of the last 10\)/.exec(text)![1]);
    expect(trained).toBeLessThan(unigram + 1);
    expect(text).toMatch(/its last 100 steps: 6\.13, against 6\.\d\d for token frequencies alone/);
    expect(text).toContain("newly initialized: [pre_classifier.weight, pre_classifier.bias, classifier.weight, classifier.bias]");
    expect(Number(/differ by at most ([\d.e-]+)/.exec(text)![1])).toBeLessThan(2 ** -8);
    // The quick profile's backbone: its two pretraining stages, and a hidden word it fills in.
    expect(text).toMatch(/14,245 steps in 5\.5 min on NVIDIA H200: last 100 steps 3\.06/);
    expect(text).toMatch(/7,831 steps in 6\.0 min on NVIDIA H100 80GB HBM3: last 100 steps 2\.77/);
    expect(text).toContain('"this movie was [MASK] and i loved it ." -> great');
    expect(figures).toBe(4);
  }, 900_000);

  test("05: the tutorial's table beside each profile's runs, the stand-in, speed and memory", async () => {
    const { text, figures, html } = await run("05_results.ipynb");
    expect(text).toMatch(/3 runs from this build \(quick profile\), \d+ grid points; 5 runs from the stand-in backbone in results\/standin\//);
    // Chapters 01-04 ran above, so nothing of the quick profile is missing.
    expect(text).not.toContain("No runs of the quick profile");
    expect(text).not.toContain("No bar for this build's");
    // The stand-in's MLM loss beside a uniform guess's, ln(30,522) = 10.33.
    expect(text).toMatch(/last 100 steps: loss 6\.13 \(a uniform guess over 30,522 ids: 10\.33\)/);
    // Tables: the quick profile's beside the tutorial's (and the full profile's, where it has runs), the
    // stand-in's, the book's backbone on the GPU, speed, speed on a CPU, memory.
    expect(html).toBe(text.includes("No runs of the full profile in build/results/full/") ? 6 : 7);
    // Figures: validation accuracy by epoch, the stand-in's MLM loss, the stand-in beside the tutorial,
    // three backbones, accuracy against trainable parameters, speed against PyTorch.
    expect(figures).toBe(6);
  }, 600_000);
});
