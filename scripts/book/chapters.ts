/** The book's chapters: notebooks (.ipynb) or plain markdown pages (.md), each one HTML page. */
import * as fs from "fs";
import * as path from "path";
import { joinLines, readNotebook, type Notebook } from "../notebook/nbformat";
import { firstTitle } from "./markdown";

export interface ChapterSpec {
  /** Absolute path of the .ipynb or .md file. */
  file: string;
  /** Shown in the table of contents; default: the file's first `# ` heading. */
  title?: string;
  /** A TypeScript entry (absolute path) that runs in the reader's browser at the end of the page (live.ts). */
  live?: string;
  /** A module whose writeAssets(dir) writes the files the live entry fetches (build-book.ts runs it). */
  liveAssets?: string;
}

export type Chapter = {
  file: string;
  title: string;
  /** File name of its page in the site, e.g. "00_lora_layer.html". */
  page: string;
  /** The live section's entry, if the chapter has one. */
  live?: string;
} & ({ kind: "notebook"; notebook: Notebook } | { kind: "markdown"; markdown: string });

export function loadChapter(spec: ChapterSpec): Chapter {
  const { file } = spec;
  if (!fs.existsSync(file)) throw new Error(`chapter file not found: ${file}`);
  const page = pageName(file);
  const live = spec.live ? { live: spec.live } : {};
  const fallbackTitle = path.basename(file).replace(/\.[^.]+$/, "").replace(/^\d+[_-]/, "").replace(/[_-]+/g, " ");
  if (file.endsWith(".ipynb")) {
    const notebook = readNotebook(file);
    const firstMarkdown = notebook.cells.find((c) => c.cell_type === "markdown");
    const title = spec.title ?? (firstMarkdown && firstTitle(joinLines(firstMarkdown.source))) ?? fallbackTitle;
    return { file, title, page, ...live, kind: "notebook", notebook };
  }
  if (file.endsWith(".md")) {
    const markdown = fs.readFileSync(file, "utf8");
    return { file, title: spec.title ?? firstTitle(markdown) ?? fallbackTitle, page, ...live, kind: "markdown", markdown };
  }
  throw new Error(`${file}: a chapter is an .ipynb notebook or a .md page`);
}

/** "notebooks/00_LoRA layer.ipynb" -> "00_lora-layer.html": safe in URLs, stable across builds. */
export function pageName(file: string): string {
  const stem = path
    .basename(file)
    .replace(/\.[^.]+$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, "-")
    .replace(/^[-.]+|-+$/g, "");
  return `${stem || "chapter"}.html`;
}

/** Every chapter gets its own page: two files with the same name, or one named index, would clash. */
export function checkPageNames(chapters: Chapter[]): void {
  const seen = new Map<string, string>([["index.html", "the book's index page"]]);
  for (const c of chapters) {
    const other = seen.get(c.page);
    if (other) throw new Error(`${c.file} and ${other} would both be written to ${c.page}: rename one of them`);
    seen.set(c.page, c.file);
  }
}
