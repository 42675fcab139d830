import { showFigure, describeFigure, PLOTLY_MIME, type DisplayBundle } from "../../lib/util/display";
import type { PlotlyFigure } from "../../lib/util/figure-svg";

// Inside the tslab kernel, tslab's internal module holds the writer of display_data messages while a
// cell runs; outside it the writer is null. The module is replaced here by one whose writer the
// tests set, so showFigure can be watched as if a kernel ran it.
const kernel: { lastWriteDisplayData: ((bundle: DisplayBundle, update: boolean) => void) | null } = { lastWriteDisplayData: null };
jest.mock("tslab/dist/jupyter", () => kernel);

const figure: PlotlyFigure = {
  data: [
    { name: "loss", x: [1, 2, 3], y: [0.9, 0.5, 0.3], mode: "lines+markers" },
    { name: "accuracy", x: [1, 2, 3], y: [0.6, 0.7, 0.8], mode: "lines+markers", yaxis: "y2" },
  ],
  layout: { title: { text: "Training <loss>" }, yaxis2: { overlaying: "y", side: "right" } },
};

afterEach(() => {
  kernel.lastWriteDisplayData = null;
  jest.restoreAllMocks();
});

test("in a kernel, one display_data message carries the Plotly JSON unchanged, its SVG and a line of text", () => {
  const sent: [DisplayBundle, boolean][] = [];
  kernel.lastWriteDisplayData = (bundle, update) => sent.push([bundle, update]);
  const before = JSON.parse(JSON.stringify(figure));
  showFigure(figure);
  expect(sent).toHaveLength(1);
  const [{ data, metadata }, update] = sent[0];
  expect(update).toBe(false);
  expect(metadata).toEqual({});
  expect(Object.keys(data).sort()).toEqual([PLOTLY_MIME, "image/svg+xml", "text/plain"].sort());
  expect(data[PLOTLY_MIME]).toEqual(before);
  const svg = data["image/svg+xml"] as string;
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg).toContain("Training &lt;loss&gt;");
  expect(svg.match(/class="line"/g)).toHaveLength(2);
  expect(data["text/plain"]).toBe("Figure: Training <loss> (scatter, 2 traces: loss; accuracy)");
  expect(data["text/plain"]).not.toContain("\n");
});

test("outside a kernel, showFigure prints where the figure would be, and sends nothing", () => {
  const log = jest.spyOn(console, "log").mockImplementation(() => {});
  showFigure(figure);
  expect(log).toHaveBeenCalledTimes(1);
  expect(log.mock.calls[0][0]).toBe("(a figure: Training <loss> — run this in the notebook to see it)");
});

test("a figure's description names its title, kinds and traces", () => {
  expect(describeFigure({ data: [{ type: "bar", y: [1] }] })).toBe("Figure: untitled (bar, 1 trace)");
  expect(describeFigure({ data: [{ type: "heatmap", z: [[1]] }], layout: { title: "grid" } })).toBe("Figure: grid (heatmap, 1 trace)");
});
