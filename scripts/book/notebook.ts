/** A notebook's cells as the body of a chapter page, and the error outputs that fail a build. */
import { joinLines, type Cell, type Notebook } from "../notebook/nbformat";
import { highlightBlock } from "./highlight";
import { renderMarkdown } from "./markdown";
import { renderOutput, type OutputContext } from "./outputs";

/** An error output found in a notebook. */
export interface CellError {
  /** Index in `notebook.cells`, counting markdown cells, as the runner reports it. */
  cellIndex: number;
  executionCount: number | null;
  ename: string;
  evalue: string;
}

export function findErrorOutputs(nb: Notebook): CellError[] {
  const errors: CellError[] = [];
  nb.cells.forEach((cell, cellIndex) => {
    for (const output of cell.outputs ?? []) {
      if (output.output_type === "error") {
        errors.push({ cellIndex, executionCount: cell.execution_count ?? null, ename: output.ename, evalue: output.evalue });
      }
    }
  });
  return errors;
}

/** Code cells that hold source but were never run: their outputs are missing from the page. */
export function countUnexecutedCells(nb: Notebook): number {
  return nb.cells.filter((c) => c.cell_type === "code" && joinLines(c.source).trim() !== "" && c.execution_count == null).length;
}

/** The notebook's language for highlighting (tslab notebooks say "typescript"). */
function notebookLanguage(nb: Notebook): string {
  const info = nb.metadata.language_info as { name?: string } | undefined;
  const spec = nb.metadata.kernelspec as { language?: string } | undefined;
  return info?.name ?? spec?.language ?? "typescript";
}

/** Cell tags that jupyter-book and nbconvert honour, to keep set-up cells out of the reading. */
function tags(cell: Cell): string[] {
  const t = (cell.metadata as { tags?: unknown }).tags;
  return Array.isArray(t) ? t.map(String) : [];
}

export function renderNotebookBody(nb: Notebook, ctx: OutputContext): string {
  const language = notebookLanguage(nb);
  const parts: string[] = [];
  for (const cell of nb.cells) {
    const cellTags = tags(cell);
    if (cellTags.includes("remove-cell")) continue;
    const source = joinLines(cell.source);
    if (cell.cell_type === "markdown") {
      const markdown = { ...ctx.markdown, attachments: cell.attachments };
      parts.push(`<section class="cell markdown-cell">\n${renderMarkdown(source, markdown)}</section>`);
    } else if (cell.cell_type === "code" && source.trim() !== "") {
      parts.push(renderCodeCell(cell, source, language, cellTags, ctx));
    }
  }
  return parts.join("\n");
}

function renderCodeCell(cell: Cell, source: string, language: string, cellTags: string[], ctx: OutputContext): string {
  const count = cell.execution_count ?? " ";
  const input = cellTags.includes("remove-input")
    ? ""
    : `<div class="input"><div class="prompt">[${count}]:</div>${highlightBlock(source, language)}</div>\n`;
  const outputs = cellTags.includes("remove-output") ? "" : (cell.outputs ?? []).map((o) => renderOutput(o, ctx)).join("");
  const outputHtml = outputs ? `<div class="outputs">\n${outputs}</div>\n` : "";
  return `<section class="cell code-cell">\n${input}${outputHtml}</section>`;
}
