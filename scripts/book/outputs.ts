/**
 * A code cell's outputs as HTML, one mime type per output, chosen the way Jupyter does: the
 * richest one the book can show, with text/plain as the fallback.
 */
import { joinLines, type Output } from "../notebook/nbformat";
import { escapeHtml, jsonForScript, stripAnsi } from "./html";
import { renderMarkdown, type MarkdownContext } from "./markdown";
import { renderMath } from "./math";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/**
 * Richest first. JavaScript outputs are left out on purpose: a static book runs no kernel code.
 * A figure from showFigure carries its Plotly JSON and a static SVG of it in one output: the Plotly
 * JSON ranks first, so the book draws the figure interactively and never shows the SVG beside it;
 * the SVG is shown only for outputs that have no Plotly JSON.
 */
const MIME_PRIORITY = [
  PLOTLY_MIME,
  "text/html",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "image/gif",
  "text/markdown",
  "text/latex",
  "application/json",
  "text/plain",
];

/** State shared by the outputs of one page. */
export interface OutputContext {
  markdown: MarkdownContext;
  /** Plotly figures on the page so far (their div ids are numbered by it). */
  figures: number;
}

export function renderOutput(output: Output, ctx: OutputContext): string {
  switch (output.output_type) {
    case "stream": {
      const text = stripAnsi(joinLines(output.text));
      if (text === "") return "";
      const name = output.name === "stderr" ? "stderr" : "stdout";
      return `<pre class="output stream ${name}">${escapeHtml(text)}</pre>\n`;
    }
    case "error":
      return renderError(output.ename, output.evalue, output.traceback);
    case "display_data":
    case "execute_result":
      return renderBundle(output.data, output.metadata ?? {}, ctx);
    default:
      return "";
  }
}

function renderError(ename: string, evalue: string, traceback: string[]): string {
  const head = `${ename}: ${evalue}`;
  const trace = stripAnsi((traceback ?? []).join("\n")).trim();
  const details = trace && trace !== head ? `<pre>${escapeHtml(trace)}</pre>` : "";
  return `<div class="output error" role="alert"><p class="error-head"><strong>${escapeHtml(ename)}</strong>: ${escapeHtml(evalue)}</p>${details}</div>\n`;
}

function renderBundle(data: Record<string, unknown>, metadata: Record<string, unknown>, ctx: OutputContext): string {
  const mime = MIME_PRIORITY.find((m) => data[m] !== undefined);
  if (!mime) {
    const types = Object.keys(data).join(", ") || "nothing";
    return `<p class="output unsupported">An output of type ${escapeHtml(types)} is not shown in the book.</p>\n`;
  }
  const value = data[mime];
  const text = typeof value === "string" || Array.isArray(value) ? joinLines(value as string | string[]) : "";
  const alt = data["text/plain"] !== undefined ? joinLines(data["text/plain"] as string | string[]) : "";
  switch (mime) {
    case PLOTLY_MIME:
      return renderPlotly(value, ctx);
    case "text/html":
      // Trusted: it comes from the book's own notebooks, as Jupyter trusts a notebook it ran.
      return `<div class="output html">${text}</div>\n`;
    case "image/svg+xml":
      // As an <img>, not inline: ids and styles inside one SVG cannot clash with the page's.
      return image(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`, alt, metadata[mime]);
    case "image/png":
    case "image/jpeg":
    case "image/gif":
      return image(`data:${mime};base64,${text.replace(/\s+/g, "")}`, alt, metadata[mime]);
    case "text/markdown":
      return `<div class="output markdown">${renderMarkdown(text, ctx.markdown)}</div>\n`;
    case "text/latex":
      return `<div class="output latex">${renderMath(text.trim().replace(/^\$\$?|\$\$?$/g, ""), true, (tex, m) => ctx.markdown.warn(`cannot typeset ${tex}: ${m}`))}</div>\n`;
    case "application/json":
      return `<pre class="output text">${escapeHtml(JSON.stringify(value, null, 2))}</pre>\n`;
    default:
      return `<pre class="output text">${escapeHtml(stripAnsi(text))}</pre>\n`;
  }
}

function image(src: string, alt: string, meta: unknown): string {
  const size = (meta ?? {}) as { width?: unknown; height?: unknown };
  const dims = ["width", "height"]
    .filter((k) => typeof size[k as "width"] === "number")
    .map((k) => ` ${k}="${size[k as "width"]}"`)
    .join("");
  return `<div class="output image"><img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}"${dims}></div>\n`;
}

/** A div and the script that draws the figure into it with the page's local plotly.min.js. */
function renderPlotly(value: unknown, ctx: OutputContext): string {
  const figure = (typeof value === "string" ? JSON.parse(value) : value) as { data?: unknown; layout?: Record<string, unknown> };
  ctx.figures += 1;
  const id = `plotly-figure-${ctx.figures}`;
  const layout = withObjectTitles(figure.layout ?? {});
  const config = { responsive: true, displaylogo: false };
  const call = `Plotly.newPlot(${jsonForScript(id)}, ${jsonForScript(figure.data ?? [])}, ${jsonForScript(layout)}, ${jsonForScript(config)});`;
  return `<div class="output plotly"><div id="${id}" class="plotly-figure"></div><script>${call}</script></div>\n`;
}

/**
 * plotly.js 3+ ignores a title given as a plain string (`title: "loss"`), which older versions and
 * Python's plotly accept: turn those into `{ text }`.
 */
function withObjectTitles(layout: Record<string, unknown>): Record<string, unknown> {
  const out = { ...layout };
  for (const [key, value] of Object.entries(out)) {
    if (key === "title" && typeof value === "string") out.title = { text: value };
    const axis = value as Record<string, unknown> | null;
    if (/^[xyz]axis\d*$/.test(key) && axis && typeof axis === "object" && typeof axis.title === "string") {
      out[key] = { ...axis, title: { text: axis.title } };
    }
  }
  return out;
}
