/**
 * Markdown to HTML for chapters, notebook markdown cells and text/markdown outputs: marked (GFM)
 * plus KaTeX math, highlight.js code, heading anchors, and links between chapters rewritten to
 * the pages that hold them.
 */
import * as fs from "fs";
import * as path from "path";
import { highlightBlock } from "./highlight";
import { escapeHtml, slugify } from "./html";
import { Marked, type Tokens } from "./marked";
import { mathExtensions } from "./math";

/** A heading of a page, for the table of contents. */
export interface Heading {
  depth: number;
  id: string;
  /** Inline HTML of the heading's text (it may hold math). */
  html: string;
}

/** What markdown needs to know about the page it is rendered into. */
export interface MarkdownContext {
  /** Folder of the source file: relative links and images resolve from it. */
  baseDir: string;
  /** The page (e.g. "01_lora.html") holding the book file at this absolute path, or null. */
  pageFor(file: string): string | null;
  /** Copies a local image into the site; returns its URL relative to the pages. */
  addMedia(file: string): string;
  /** Problems the build should report (a broken formula, a link out of the book). */
  warn(message: string): void;
  /** The page's headings so far; ids stay unique across the cells of one page. */
  headings: Heading[];
  /** A notebook cell's attachments (`![](attachment:x.png)`). */
  attachments?: Record<string, Record<string, unknown>>;
}

export function renderMarkdown(markdown: string, ctx: MarkdownContext): string {
  const marked = new Marked({ gfm: true });
  marked.use({
    extensions: mathExtensions((tex, message) => ctx.warn(`cannot typeset $${tex}$: ${message}`)),
    walkTokens(token) {
      if (token.type === "link") token.href = linkTarget(token.href, ctx);
      else if (token.type === "image") token.href = imageSource(token.href, ctx);
    },
    renderer: {
      code({ text, lang }: Tokens.Code) {
        return highlightBlock(text, lang?.split(/\s/)[0]) + "\n";
      },
      heading({ tokens, depth, text }: Tokens.Heading) {
        const html = this.parser.parseInline(tokens);
        const id = uniqueId(slugify(text), ctx.headings);
        ctx.headings.push({ depth, id, html });
        return `<h${depth} id="${id}">${html}<a class="anchor" href="#${id}" aria-hidden="true">#</a></h${depth}>\n`;
      },
    },
  });
  return marked.parse(markdown, { async: false });
}

/** The text of the first `# ` heading of some markdown (a chapter's title), or null. */
export function firstTitle(markdown: string): string | null {
  const token = new Marked().lexer(markdown).find((t) => t.type === "heading" && t.depth === 1);
  return token ? (token as Tokens.Heading).text.replace(/[*_`]/g, "").trim() : null;
}

function uniqueId(base: string, taken: Heading[]): string {
  const ids = new Set(taken.map((h) => h.id));
  let id = base;
  for (let n = 1; ids.has(id); n++) id = `${base}-${n}`;
  return id;
}

/** A relative href into the repository: the path (decoded) and the "#..." part. */
function localTarget(href: string): { file: string; hash: string } | null {
  if (/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(href)) return null; // URL, absolute path or anchor
  const hashAt = href.indexOf("#");
  const file = hashAt < 0 ? href : href.slice(0, hashAt);
  const hash = hashAt < 0 ? "" : href.slice(hashAt);
  try {
    return { file: decodeURI(file), hash };
  } catch {
    return { file, hash };
  }
}

function linkTarget(href: string, ctx: MarkdownContext): string {
  const target = localTarget(href);
  if (!target || target.file === "") return href;
  const abs = path.resolve(ctx.baseDir, target.file);
  const page = ctx.pageFor(abs);
  if (page) return page + target.hash;
  ctx.warn(`link to ${target.file}, which is not a page of the book`);
  return href;
}

function imageSource(href: string, ctx: MarkdownContext): string {
  if (href.startsWith("attachment:")) {
    const name = decodeURI(href.slice("attachment:".length));
    const bundle = ctx.attachments?.[name];
    const mime = bundle && Object.keys(bundle).find((m) => m.startsWith("image/"));
    if (!bundle || !mime) {
      ctx.warn(`missing cell attachment ${escapeHtml(name)}`);
      return href;
    }
    const data = String(bundle[mime]).replace(/\s+/g, "");
    return mime === "image/svg+xml" && data.trimStart().startsWith("<")
      ? `data:image/svg+xml;charset=utf-8,${encodeURIComponent(String(bundle[mime]))}`
      : `data:${mime};base64,${data}`;
  }
  const target = localTarget(href);
  if (!target) {
    if (/^https?:/i.test(href)) ctx.warn(`image from the web (${href}) will not show offline`);
    return href;
  }
  const abs = path.resolve(ctx.baseDir, target.file);
  if (!fs.existsSync(abs)) {
    ctx.warn(`missing image ${target.file}`);
    return href;
  }
  return ctx.addMedia(abs);
}
