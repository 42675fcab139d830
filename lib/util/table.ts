import { showHtml } from "./display";

// Tables for the book's chapters: rows of cells, shown as an HTML table in the notebook and as
// aligned plain text elsewhere (scripts, tests, a terminal).

/** A cell: text, a number (written as is) or null (nothing to show: "–"). */
export type Cell = string | number | null;

export interface Table {
  /** A line above the table. */
  title?: string;
  columns: string[];
  rows: Cell[][];
  /** Per column; by default the first column is left-aligned and the others right-aligned. */
  align?: ("left" | "right")[];
  /** Sentences shown under the table, whole. */
  notes?: string[];
}

const text = (cell: Cell): string => (cell === null ? "–" : String(cell));

const escapeHtml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function alignment(table: Table, i: number): "left" | "right" {
  return table.align?.[i] ?? (i === 0 ? "left" : "right");
}

/** The table as HTML: a header row, one row per entry, the notes as paragraphs under it. */
export function tableHtml(table: Table): string {
  const cell = (tag: "th" | "td", value: Cell, i: number) => `<${tag} style="text-align:${alignment(table, i)}">${escapeHtml(text(value))}</${tag}>`;
  const head = `<thead><tr>${table.columns.map((c, i) => cell("th", c, i)).join("")}</tr></thead>`;
  const body = `<tbody>${table.rows.map((row) => `<tr>${row.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("")}</tbody>`;
  const notes = (table.notes ?? []).map((note) => `<p>${escapeHtml(note)}</p>`).join("");
  const title = table.title ? `<p><strong>${escapeHtml(table.title)}</strong></p>` : "";
  return `${title}<table>${head}${body}</table>${notes}`;
}

/** The table as plain text, each column padded to its widest cell, the notes under it. */
export function tableText(table: Table): string {
  const lines = [table.columns, ...table.rows].map((row) => row.map(text));
  const widths = table.columns.map((_, i) => Math.max(...lines.map((line) => (line[i] ?? "").length)));
  const pad = (line: string[]) =>
    line.map((value, i) => (alignment(table, i) === "left" ? value.padEnd(widths[i]) : value.padStart(widths[i]))).join("  ").trimEnd();
  return [...(table.title ? [table.title] : []), pad(lines[0]), widths.map((w) => "-".repeat(w)).join("  "), ...lines.slice(1).map(pad), ...(table.notes ?? [])].join("\n");
}

/** Show a table: HTML in the notebook, plain text elsewhere. */
export function showTable(table: Table): void {
  showHtml(tableHtml(table), tableText(table));
}
