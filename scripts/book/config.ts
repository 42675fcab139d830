/**
 * book.config.json: what goes into the book, in reading order. Paths are relative to the file.
 *
 *   {
 *     "title": "LoRA from Scratch in TypeScript",
 *     "description": "One line under the title",           (optional)
 *     "intro": "README.md",                                 (optional: its opening, up to the first ##)
 *     "profile": "quick",                                   (optional: named on the index page)
 *     "outDir": "build/book",                               (optional, default build/book)
 *     "mirror": "../mirror",                                (optional: where the files the book
 *                                                            downloads already are; lib/data/assets.ts)
 *     "parallel": 2,                                        (optional: notebooks executed at once
 *                                                            by --execute, default 1)
 *     "chapters": [
 *       { "file": "notebooks/00_lora_layer.ipynb", "live": "scripts/book/live/lora-toy.ts" },
 *       { "file": "notebooks/08_playground.md", "live": "scripts/book/live/imdb-playground.ts",
 *         "liveAssets": "scripts/book/live/imdb-playground-assets.ts" },
 *       { "file": "notebooks/05_results.ipynb", "after": ["notebooks/01_finetune_last_layers.ipynb"] },
 *       { "file": "docs/reproduce.md", "title": "Reproduce the experiment" }
 *     ]
 *   }
 *
 * "after" names the chapters whose results a notebook reads: --execute starts it once they are done.
 * "live" names a TypeScript entry that runs in the reader's browser at the end of the page (live.ts).
 * "liveAssets" names a module whose writeAssets(dir) writes the files that entry fetches, at build
 * time, into assets/live/NAME/ (NAME: the entry's base name).
 */
import * as fs from "fs";
import * as path from "path";
import type { BookSpec } from "./render";

export interface BookConfig {
  book: BookSpec;
  /** Absolute output folder. */
  outDir: string;
  /** How many notebooks --execute runs at once. */
  parallel: number;
  /** For each chapter (absolute path), the chapters (absolute paths) it must run after. */
  after: Map<string, string[]>;
}

const KEYS = ["title", "description", "intro", "profile", "outDir", "mirror", "parallel", "chapters"];
const CHAPTER_KEYS = ["file", "title", "after", "live", "liveAssets"];

export function readBookConfig(configPath: string): BookConfig {
  const file = path.resolve(configPath);
  if (!fs.existsSync(file)) throw new Error(`no book config at ${file}: write one (format in scripts/book/config.ts) or pass --config FILE`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${configPath}: not a readable JSON file: ${(err as Error).message}`);
  }
  const fail = (message: string): never => {
    throw new Error(`${configPath}: ${message}`);
  };
  if (!isObject(raw)) return fail("expected a JSON object");
  for (const key of Object.keys(raw)) if (!KEYS.includes(key)) fail(`unknown key "${key}" (known: ${KEYS.join(", ")})`);
  const text = (value: unknown, where: string, optional: boolean): string | undefined => {
    if (value === undefined && optional) return undefined;
    if (typeof value !== "string" || value.trim() === "") return fail(`${where} must be a non-empty string`);
    return value;
  };
  const dir = path.dirname(file);
  const title = text(raw.title, '"title"', false)!;
  if (!Array.isArray(raw.chapters) || raw.chapters.length === 0) return fail('"chapters" must be a non-empty list');
  const chapters = raw.chapters.map((c: unknown, i: number) => {
    const where = `chapters[${i}]`;
    if (!isObject(c)) return fail(`${where} must be an object like {"file": "notebooks/00_intro.ipynb"}`);
    for (const key of Object.keys(c)) if (!CHAPTER_KEYS.includes(key)) fail(`${where}: unknown key "${key}"`);
    const chapterFile = text(c.file, `${where}.file`, false)!;
    if (!/\.(ipynb|md)$/.test(chapterFile)) fail(`${where}.file must be an .ipynb or .md file`);
    const after = c.after === undefined ? [] : Array.isArray(c.after) ? c.after.map((a, j) => path.resolve(dir, text(a, `${where}.after[${j}]`, false)!)) : fail(`${where}.after must be a list of chapter files`);
    const live = text(c.live, `${where}.live`, true);
    if (live !== undefined && !/\.ts$/.test(live)) fail(`${where}.live must be a .ts file`);
    if (live !== undefined && !fs.existsSync(path.resolve(dir, live))) fail(`${where}.live: ${live} not found`);
    const liveAssets = text(c.liveAssets, `${where}.liveAssets`, true);
    if (liveAssets !== undefined && live === undefined) fail(`${where}.liveAssets needs a "live" entry to fetch them`);
    if (liveAssets !== undefined && !/\.ts$/.test(liveAssets)) fail(`${where}.liveAssets must be a .ts file`);
    if (liveAssets !== undefined && !fs.existsSync(path.resolve(dir, liveAssets))) fail(`${where}.liveAssets: ${liveAssets} not found`);
    return {
      file: path.resolve(dir, chapterFile),
      title: text(c.title, `${where}.title`, true),
      after,
      ...(live ? { live: path.resolve(dir, live) } : {}),
      ...(liveAssets ? { liveAssets: path.resolve(dir, liveAssets) } : {}),
    };
  });
  const files = new Set(chapters.map((c) => c.file));
  chapters.forEach((c, i) => {
    for (const a of c.after) if (!files.has(a) || a === c.file) fail(`chapters[${i}].after: ${path.relative(dir, a)} is not another chapter of the book`);
  });
  const parallel = raw.parallel === undefined ? 1 : raw.parallel;
  if (typeof parallel !== "number" || !Number.isInteger(parallel) || parallel < 1) fail(`"parallel" must be a whole number of notebooks, 1 or more; got ${JSON.stringify(raw.parallel)}`);
  const intro = text(raw.intro, '"intro"', true);
  return {
    book: {
      title,
      description: text(raw.description, '"description"', true),
      intro: intro === undefined ? undefined : path.resolve(dir, intro),
      profile: text(raw.profile, '"profile"', true),
      chapters: chapters.map(({ file: f, title: t, live: l, liveAssets: a }) => ({ file: f, title: t, ...(l ? { live: l } : {}), ...(a ? { liveAssets: a } : {}) })),
    },
    outDir: path.resolve(dir, text(raw.outDir, '"outDir"', true) ?? "build/book"),
    parallel: parallel as number,
    after: new Map(chapters.map((c) => [c.file, c.after])),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
