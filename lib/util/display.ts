// Show figures in the notebook: inside the tslab kernel a Plotly figure goes out as
// application/vnd.plotly.v1+json (JupyterLab draws it with plotly's extension; the book with its
// local plotly.js). Outside a kernel (scripts, tests) there is nowhere to draw: say so instead.

/** A Plotly figure as JSON: traces and layout. */
export interface PlotlyFigure {
  data: object[];
  layout?: object;
}

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

/** Draw a Plotly figure in the notebook; outside one, print a line saying where it would be. */
export function showFigure(figure: PlotlyFigure): void {
  const display = tslabDisplay();
  try {
    if (display) return display.raw("application/vnd.plotly.v1+json", figure);
  } catch {
    // "Not ready": tslab is installed, but this is not its kernel
  }
  console.log(`(a figure: ${figureTitle(figure)} — run this in the notebook to see it)`);
}

function figureTitle(figure: PlotlyFigure): string {
  const title = (figure.layout as { title?: { text?: string } | string } | undefined)?.title;
  return (typeof title === "string" ? title : title?.text) ?? "untitled";
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
