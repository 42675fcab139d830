// Show figures in the notebook. Inside the tslab kernel a Plotly figure goes out as one
// display_data message with three MIME types, and each front end picks the richest it can draw:
//   application/vnd.plotly.v1+json  the figure itself, drawn interactively by JupyterLab's and VS
//                                   Code's Plotly renderers (and by the book, with its local plotly.js);
//   image/svg+xml                   a static drawing of the same figure (figure-svg.ts), for the
//                                   front ends with no Plotly renderer: the classic Notebook, JupyterLab
//                                   without jupyterlab-plotly, GitHub's and nbviewer's notebook views,
//                                   which would otherwise drop the output and show nothing;
//   text/plain                      a line naming the figure, for text-only front ends.
// There is deliberately no text/html: JupyterLab ranks it above the SVG, and HTML that loads
// plotly.js by script draws nothing wherever the script cannot load or scripts are blocked.
// Outside a kernel (scripts, tests) there is nowhere to draw: say so instead.
import { figureSvg, figureTitle, type PlotlyFigure } from "./figure-svg";

export type { PlotlyFigure };

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** One display_data message: its data by MIME type and its metadata. */
export interface DisplayBundle {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

type WriteDisplayData = (bundle: DisplayBundle, update: boolean) => void;

interface TslabDisplay {
  raw(contentType: string, content: unknown): void;
  html(content: string): void;
}

function tslabDisplay(): TslabDisplay | null {
  try {
    // tslab is there only when the book runs in its kernel; a lazy require keeps lib/ usable without it.
    return (require("tslab") as { display: TslabDisplay }).display;
  } catch {
    return null;
  }
}

/**
 * The kernel's writer of display_data messages. tslab's public display.raw sends one MIME type per
 * message, and a front end shows each message on its own, so a fallback sent that way would appear
 * beside the figure rather than instead of it. Its internal module keeps the writer that display.raw
 * itself calls, which takes a whole bundle; it is set only while the kernel runs a cell. Not part of
 * tslab's public API, so it is looked up with care: null when it is missing or not set.
 */
function tslabWriter(): WriteDisplayData | null {
  try {
    const jupyter = require("tslab/dist/jupyter") as { lastWriteDisplayData?: unknown };
    return typeof jupyter.lastWriteDisplayData === "function" ? (jupyter.lastWriteDisplayData as WriteDisplayData) : null;
  } catch {
    return null;
  }
}

/** A one-line description of a figure: its title and what its traces are. */
export function describeFigure(figure: PlotlyFigure): string {
  const traces = figure.data as { type?: string; name?: string }[];
  const kinds = [...new Set(traces.map((t) => t.type ?? "scatter"))].join(", ");
  const names = traces.map((t) => t.name).filter((n): n is string => typeof n === "string" && n !== "");
  const count = `${traces.length} ${traces.length === 1 ? "trace" : "traces"}`;
  return `Figure: ${figureTitle(figure)} (${kinds || "empty"}, ${count}${names.length ? `: ${names.join("; ")}` : ""})`;
}

/**
 * The display_data bundle for a figure: the Plotly JSON as given, its SVG drawing and its
 * description. If the drawing fails on a figure it does not understand, the bundle goes without it
 * rather than losing the interactive figure too.
 */
export function figureBundle(figure: PlotlyFigure): DisplayBundle {
  const data: Record<string, unknown> = { [PLOTLY_MIME]: figure };
  try {
    data["image/svg+xml"] = figureSvg(figure);
  } catch {
    // left out: the Plotly JSON and the text still go
  }
  data["text/plain"] = describeFigure(figure);
  return { data, metadata: {} };
}

/** Draw a Plotly figure in the notebook; outside one, print a line saying where it would be. */
export function showFigure(figure: PlotlyFigure): void {
  const write = tslabWriter();
  if (write) return write(figureBundle(figure), false);
  const display = tslabDisplay();
  try {
    // A tslab without the internal writer: the figure alone, as its public API allows.
    if (display) return display.raw(PLOTLY_MIME, figure);
  } catch {
    // "Not ready": tslab is installed, but this is not its kernel
  }
  console.log(`(a figure: ${figureTitle(figure)} — run this in the notebook to see it)`);
}

/** Show an HTML table (or any HTML) in the notebook; prints the fallback text elsewhere. */
export function showHtml(html: string, fallback: string): void {
  const display = tslabDisplay();
  try {
    if (display) return display.html(html);
  } catch {
    // not in the kernel
  }
  console.log(fallback);
}
