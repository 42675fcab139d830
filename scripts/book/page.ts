/** The HTML shell every page shares: sidebar table of contents, the page's article, prev/next links. */
import { escapeHtml } from "./html";
import type { Heading } from "./markdown";

export interface NavEntry {
  title: string;
  page: string;
  /** The chapter's headings; its `##` sections are listed under it. */
  headings: Heading[];
}

export interface PageParts {
  bookTitle: string;
  /** This page's title (the `<title>` before the book's). Null on the index page. */
  title: string | null;
  /** This page's file name: "index.html" or a chapter's page. */
  page: string;
  /** The article's HTML. */
  body: string;
  chapters: NavEntry[];
  prev: { title: string; page: string } | null;
  next: { title: string; page: string } | null;
  /** Load plotly.min.js: the page draws figures. */
  plotly: boolean;
}

export const ASSETS = {
  css: "assets/book.css",
  katexCss: "assets/katex/katex.min.css",
  plotly: "assets/plotly.min.js",
};

export function renderPage(p: PageParts): string {
  const title = p.title ? `${p.title} · ${p.bookTitle}` : p.bookTitle;
  // Plotly loads before the body: each figure's inline script calls it as the page is parsed.
  const plotly = p.plotly ? `\n<script src="${ASSETS.plotly}"></script>` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSETS.katexCss}">
<link rel="stylesheet" href="${ASSETS.css}">${plotly}
</head>
<body>
<input type="checkbox" id="nav-toggle" class="nav-toggle" aria-hidden="true">
<header class="topbar">
<label for="nav-toggle" class="nav-button" title="Table of contents">☰ <span>Contents</span></label>
<a class="topbar-title" href="index.html">${escapeHtml(p.bookTitle)}</a>
</header>
<div class="layout">
${sidebar(p)}
<main class="content">
<article class="${p.page === "index.html" ? "index" : "chapter"}">
${p.body}
</article>
${pager(p)}
</main>
</div>
</body>
</html>
`;
}

function sidebar(p: PageParts): string {
  const items = p.chapters.map((c) => {
    const current = c.page === p.page;
    const link = `<a href="${escapeHtml(c.page)}"${current ? ' aria-current="page"' : ""}>${escapeHtml(c.title)}</a>`;
    const sections = current ? sectionList(c, "") : "";
    return `<li${current ? ' class="current"' : ""}>${link}${sections}</li>`;
  });
  const home = p.page === "index.html" ? ' aria-current="page"' : "";
  return `<nav class="sidebar" aria-label="Table of contents">
<a class="book-title" href="index.html"${home}>${escapeHtml(p.bookTitle)}</a>
<ol class="toc">
${items.join("\n")}
</ol>
</nav>`;
}

/** The `##` headings of a chapter as links; `page` is "" for anchors on the same page. */
export function sectionList(c: NavEntry, page: string): string {
  const sections = c.headings.filter((h) => h.depth === 2);
  if (sections.length === 0) return "";
  const links = sections.map((h) => `<li><a href="${escapeHtml(page)}#${h.id}">${h.html}</a></li>`);
  return `<ul class="sections">${links.join("")}</ul>`;
}

function pager(p: PageParts): string {
  const link = (dir: "prev" | "next", label: string, to: { title: string; page: string } | null) =>
    to
      ? `<a class="pager-${dir}" rel="${dir}" href="${escapeHtml(to.page)}"><span class="pager-label">${label}</span><span class="pager-title">${escapeHtml(to.title)}</span></a>`
      : `<span class="pager-${dir}"></span>`;
  return `<nav class="pager" aria-label="Previous and next">
${link("prev", "← Previous", p.prev)}
${link("next", "Next →", p.next)}
</nav>`;
}
