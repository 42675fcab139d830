/**
 * Renders a book (chapters of executed notebooks and markdown pages) into a static site that works
 * offline: one page per chapter, an index, and local copies of every stylesheet, font and script.
 *
 *   <outDir>/index.html, <chapter>.html, assets/ (book.css, katex/, plotly.min.js), media/ (images)
 */
import * as fs from "fs";
import * as path from "path";
import { copyAssets } from "./assets";
import { checkPageNames, loadChapter, type Chapter, type ChapterSpec } from "./chapters";
import { escapeHtml } from "./html";
import { renderMarkdown, type MarkdownContext } from "./markdown";
import { countUnexecutedCells, findErrorOutputs, renderNotebookBody } from "./notebook";
import { renderPage, sectionList, type NavEntry } from "./page";
import { bundleLive, liveName, liveSection } from "./live";
import { writeSiteAtomically } from "./site-dir";

export interface BookSpec {
  title: string;
  /** One line under the title on the index page. */
  description?: string;
  /** A README-like .md file (absolute path): its opening, up to the first `##`, introduces the book. */
  intro?: string;
  /** The run profile the notebooks were executed with (e.g. "quick"), named on the index page. */
  profile?: string;
  chapters: ChapterSpec[];
}

export interface RenderOptions {
  outDir: string;
  /** Show error outputs as red boxes instead of failing the build. Default false. */
  allowErrors?: boolean;
  /** Told each warning as it is found (a broken formula, a link out of the book...). */
  onWarning?: (message: string) => void;
  /** A folder of NAME/ folders, the files live entries fetch (written by build-book.ts): copied to assets/live/. */
  liveAssets?: string;
}

export interface RenderedBook {
  outDir: string;
  /** The pages written, index.html first. */
  pages: string[];
  warnings: string[];
}

/** The build stops: a notebook holds error outputs, or a chapter cannot be read. */
export class BookBuildError extends Error {
  override name = "BookBuildError";
}

export function renderBook(book: BookSpec, options: RenderOptions): RenderedBook {
  const chapters = book.chapters.map(loadChapter);
  checkPageNames(chapters);
  if (book.intro && !fs.existsSync(book.intro)) throw new BookBuildError(`intro file not found: ${book.intro}`);
  if (!options.allowErrors) failOnErrorOutputs(chapters);

  const warnings: string[] = [];
  const warnFor = (file: string) => (message: string) => {
    const line = `${displayPath(file)}: ${message}`;
    warnings.push(line);
    options.onWarning?.(line);
  };
  const outDir = path.resolve(options.outDir);
  const pages = writeSiteAtomically(outDir, (site) => {
    const pageOf = new Map(chapters.map((c) => [c.file, c.page]));
    if (book.intro) pageOf.set(path.resolve(book.intro), "index.html");
    const addMedia = mediaCopier(site);
    const context = (file: string): MarkdownContext => ({
      baseDir: path.dirname(file),
      pageFor: (f) => pageOf.get(f) ?? null,
      addMedia,
      warn: warnFor(file),
      headings: [],
    });

    // Bodies first: their headings make the table of contents of every page.
    const rendered = chapters.map((c) => {
      const ctx = context(c.file);
      const output = { markdown: ctx, figures: 0 };
      if (c.kind === "notebook") {
        const unexecuted = countUnexecutedCells(c.notebook);
        if (unexecuted > 0) ctx.warn(`${unexecuted} code cell(s) were never executed: their outputs are missing`);
      }
      let body = c.kind === "notebook" ? renderNotebookBody(c.notebook, output) : renderMarkdown(c.markdown, ctx);
      if (c.live) body += liveSection(liveName(c.live), ctx.headings);
      // A live section draws its curves with plotly.js, which the page then loads too.
      return { chapter: c, body, headings: ctx.headings, plotly: output.figures > 0 || c.live !== undefined };
    });
    const nav: NavEntry[] = rendered.map((r) => ({ title: r.chapter.title, page: r.chapter.page, headings: r.headings }));
    const shared = { bookTitle: book.title, chapters: nav };

    const written = ["index.html"];
    fs.writeFileSync(
      path.join(site, "index.html"),
      renderPage({
        ...shared,
        title: null,
        page: "index.html",
        body: indexBody(book, nav, book.intro ? context(book.intro) : null),
        prev: null,
        next: nav[0] ?? null,
        plotly: false,
      }),
    );
    rendered.forEach((r, i) => {
      const prev = i === 0 ? { title: "Contents", page: "index.html" } : nav[i - 1];
      const html = renderPage({ ...shared, title: r.chapter.title, page: r.chapter.page, body: r.body, prev, next: nav[i + 1] ?? null, plotly: r.plotly });
      fs.writeFileSync(path.join(site, r.chapter.page), html);
      written.push(r.chapter.page);
    });
    copyAssets(site, { plotly: rendered.some((r) => r.plotly) });
    for (const c of chapters) if (c.live) bundleLive(c.live, site);
    if (options.liveAssets) fs.cpSync(options.liveAssets, path.join(site, "assets", "live"), { recursive: true });
    return written;
  });
  return { outDir, pages, warnings };
}

function failOnErrorOutputs(chapters: Chapter[]): void {
  const lines: string[] = [];
  for (const c of chapters) {
    if (c.kind !== "notebook") continue;
    for (const e of findErrorOutputs(c.notebook)) {
      const prompt = e.executionCount === null ? "" : ` (In [${e.executionCount}])`;
      lines.push(`  chapter "${c.title}" (${displayPath(c.file)}), cell ${e.cellIndex}${prompt}: ${e.ename}: ${firstLine(e.evalue)}`);
    }
  }
  if (lines.length > 0) {
    throw new BookBuildError(
      `the book was not built: ${lines.length === 1 ? "a notebook holds an error output" : "notebooks hold error outputs"}\n` +
        `${lines.join("\n")}\nFix the cell and execute the notebook again (tsx scripts/run-notebooks.ts <notebook>).`,
    );
  }
}

/** Title, description, the intro's opening paragraphs, and every chapter with its sections. */
function indexBody(book: BookSpec, nav: NavEntry[], introCtx: MarkdownContext | null): string {
  const parts = [`<h1>${escapeHtml(book.title)}</h1>`];
  if (book.description) parts.push(`<p class="description">${escapeHtml(book.description)}</p>`);
  if (book.intro && introCtx) {
    const intro = introExcerpt(fs.readFileSync(book.intro, "utf8"));
    if (intro.trim()) parts.push(`<div class="intro">\n${renderMarkdown(intro, introCtx)}</div>`);
  }
  if (book.profile) {
    parts.push(`<p class="profile">The outputs shown were produced by the <code>${escapeHtml(book.profile)}</code> profile.</p>`);
  }
  const items = nav.map((c) => `<li><a href="${escapeHtml(c.page)}">${escapeHtml(c.title)}</a>${sectionList(c, c.page)}</li>`);
  parts.push(`<h2 id="contents">Contents</h2>\n<ol class="contents">\n${items.join("\n")}\n</ol>`);
  return parts.join("\n");
}

/** A README's opening: from after its `# ` title (the book's title already heads the page) to its first `##`. */
export function introExcerpt(markdown: string): string {
  const lines = markdown.split("\n");
  const out: string[] = [];
  let inFence = false;
  let sawText = false;
  for (const line of lines) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (!inFence && /^##\s/.test(line)) break;
    if (!inFence && !sawText && /^#\s/.test(line)) continue;
    if (line.trim() !== "") sawText = true;
    out.push(line);
  }
  return out.join("\n");
}

/** Copies local images into media/ once each; returns the URL the pages use. */
function mediaCopier(site: string): (file: string) => string {
  const copied = new Map<string, string>();
  const names = new Set<string>();
  return (file) => {
    const known = copied.get(file);
    if (known) return known;
    const ext = path.extname(file);
    const stem = path.basename(file, ext).replace(/[^A-Za-z0-9_.-]+/g, "-");
    let name = stem + ext;
    for (let n = 2; names.has(name); n++) name = `${stem}-${n}${ext}`;
    names.add(name);
    fs.mkdirSync(path.join(site, "media"), { recursive: true });
    fs.copyFileSync(file, path.join(site, "media", name));
    const url = `media/${encodeURIComponent(name)}`;
    copied.set(file, url);
    return url;
  };
}

function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.length > 200 ? line.slice(0, 197) + "..." : line;
}

/** Relative to the current directory when inside it (as the user typed it), else absolute. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

