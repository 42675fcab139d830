import * as fs from "fs";
import * as path from "path";
import { figureSvg, PLOTLY_COLORS, type PlotlyFigure } from "../../lib/util/figure-svg";

// The SVG is parsed by a small strict XML reader (no XML parser is among the dependencies): it
// throws on anything not well-formed, and gives back the element tree for the checks.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(raw: string, where: number): string {
  if (/[<]/.test(raw)) throw new Error(`"<" in text or attribute at ${where}`);
  return raw.replace(/&([^;]*);|&/g, (all, name: string | undefined) => {
    if (name === undefined) throw new Error(`bare "&" at ${where}`);
    if (ENTITIES[name]) return ENTITIES[name];
    const code = /^#(\d+)$/.exec(name)?.[1] ?? (/^#x([0-9a-f]+)$/i.exec(name) ? String(parseInt(name.slice(2), 16)) : undefined);
    if (code === undefined) throw new Error(`unknown entity ${all} at ${where}`);
    return String.fromCodePoint(Number(code));
  });
}

function parseXml(xml: string): XmlElement {
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"]*")*)\s*(\/?)>/y;
  const attr = /\s+([A-Za-z_][\w:.-]*)="([^"]*)"/g;
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack = [root];
  let pos = 0;
  while (pos < xml.length) {
    if (xml[pos] !== "<") {
      const end = xml.indexOf("<", pos) < 0 ? xml.length : xml.indexOf("<", pos);
      const raw = xml.slice(pos, end);
      if (raw.includes(">")) throw new Error(`">" in text at ${pos}`);
      if (stack.length === 1 && raw.trim()) throw new Error(`text outside the root element at ${pos}`);
      stack[stack.length - 1].text += decode(raw, pos);
      pos = end;
      continue;
    }
    tag.lastIndex = pos;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${pos}: ${xml.slice(pos, pos + 60)}`);
    const [, closing, name, attrText, selfClosing] = m;
    if (closing) {
      const open = stack.pop()!;
      if (open.name !== name || attrText || selfClosing) throw new Error(`</${name}> closes <${open.name}> at ${pos}`);
    } else {
      const attrs: Record<string, string> = {};
      for (const [, key, value] of attrText.matchAll(attr)) {
        if (key in attrs) throw new Error(`attribute ${key} twice at ${pos}`);
        attrs[key] = decode(value, pos);
      }
      const element: XmlElement = { name, attrs, children: [], text: "" };
      if (stack.length === 1 && root.children.length) throw new Error(`a second root element at ${pos}`);
      stack[stack.length - 1].children.push(element);
      if (!selfClosing) stack.push(element);
    }
    pos = tag.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (root.children.length !== 1) throw new Error("no root element");
  return root.children[0];
}

function all(e: XmlElement, test: (e: XmlElement) => boolean): XmlElement[] {
  return [...(test(e) ? [e] : []), ...e.children.flatMap((c) => all(c, test))];
}

const byClass = (cls: string) => (e: XmlElement) => (e.attrs.class ?? "").split(" ").includes(cls);

/** The SVG of a figure, parsed, and the plot area (the rectangle filled with the plot's background). */
function draw(figure: PlotlyFigure) {
  const svg = figureSvg(figure);
  const root = parseXml(svg);
  const bg = all(root, (e) => e.name === "rect" && e.attrs.fill === "#e5ecf6")[0];
  const [x, y, w, h] = ["x", "y", "width", "height"].map((k) => Number(bg.attrs[k]));
  return { svg, root, plot: { left: x, top: y, right: x + w, bottom: y + h } };
}

function points(e: XmlElement): [number, number][] {
  return e.attrs.points.split(" ").map((p) => p.split(",").map(Number) as [number, number]);
}

/** The y axis's tick labels: the texts right-aligned just left of the plot area. */
function yTickLabels(root: XmlElement, left: number): XmlElement[] {
  return all(root, (e) => e.name === "text" && e.attrs["text-anchor"] === "end" && Math.abs(Number(e.attrs.x) - (left - 6)) < 0.2 && !e.attrs.transform);
}

test("a line trace's points land where the axes map them", () => {
  const { root, plot } = draw({ data: [{ x: [0, 1, 2], y: [0, 1, 2], mode: "lines" }], layout: { xaxis: { range: [0, 2] }, yaxis: { range: [0, 2] } } });
  const lines = all(root, byClass("line"));
  expect(lines).toHaveLength(1);
  const expected = [
    [plot.left, plot.bottom],
    [(plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2],
    [plot.right, plot.top],
  ];
  points(lines[0]).forEach(([x, y], i) => {
    expect(Math.abs(x - expected[i][0])).toBeLessThanOrEqual(0.11);
    expect(Math.abs(y - expected[i][1])).toBeLessThanOrEqual(0.11);
  });
  expect(lines[0].attrs.stroke).toBe(PLOTLY_COLORS[0]);
  expect(lines[0].attrs.fill).toBe("none");
});

test("the tick labels of the range 0 to 1 are 0, 0.2, ... 1, each at its value's height", () => {
  const { root, plot } = draw({ data: [{ y: [0.3, 0.6], mode: "lines" }], layout: { title: { text: "ticks" }, yaxis: { range: [0, 1] } } });
  const labels = yTickLabels(root, plot.left);
  expect(labels.map((l) => l.text)).toEqual(["0", "0.2", "0.4", "0.6", "0.8", "1"]);
  labels.forEach((l, i) => {
    const at = plot.bottom - i * 0.2 * (plot.bottom - plot.top);
    expect(Math.abs(Number(l.attrs.y) - 12 * 0.35 - at)).toBeLessThanOrEqual(0.15);
  });
});

test("tick labels follow a percentage tickformat", () => {
  const { root, plot } = draw({ data: [{ type: "bar", x: ["a"], y: [0.5] }], layout: { yaxis: { range: [0, 1], tickformat: ".0%" } } });
  expect(yTickLabels(root, plot.left).map((l) => l.text)).toEqual(["0%", "20%", "40%", "60%", "80%", "100%"]);
});

test("a bar's height is proportional to its value, from the axis's zero, in category order", () => {
  const { root, plot } = draw({ data: [{ type: "bar", x: ["one", "two", "four"], y: [1, 2, 4] }], layout: { yaxis: { range: [0, 4] } } });
  const bars = all(root, byClass("bar"));
  expect(bars).toHaveLength(3);
  const heights = bars.map((b) => Number(b.attrs.height));
  const unit = (plot.bottom - plot.top) / 4;
  heights.forEach((h, i) => expect(Math.abs(h - [1, 2, 4][i] * unit)).toBeLessThanOrEqual(0.2));
  bars.forEach((b) => expect(Math.abs(Number(b.attrs.y) + Number(b.attrs.height) - plot.bottom)).toBeLessThanOrEqual(0.2));
  const xs = bars.map((b) => Number(b.attrs.x));
  expect(xs).toEqual([...xs].sort((a, b) => a - b));
  // The categories are labelled under their bars.
  const labels = all(root, (e) => e.name === "text" && ["one", "two", "four"].includes(e.text));
  expect(labels.map((l) => l.text)).toEqual(["one", "two", "four"]);
});

test("grouped bars sit side by side in their slot, each trace in its colour; the legend names them", () => {
  const { root } = draw({
    data: [
      { type: "bar", name: "first", x: ["a", "b"], y: [1, 2] },
      { type: "bar", name: "second", x: ["a", "b"], y: [2, 1] },
    ],
    layout: { barmode: "group" },
  });
  const bars = all(root, byClass("bar"));
  expect(bars.map((b) => b.attrs.fill)).toEqual([PLOTLY_COLORS[0], PLOTLY_COLORS[0], PLOTLY_COLORS[1], PLOTLY_COLORS[1]]);
  const [a1, , a2] = bars;
  expect(Math.abs(Number(a1.attrs.x) + Number(a1.attrs.width) - Number(a2.attrs.x))).toBeLessThanOrEqual(0.2);
  expect(all(root, (e) => e.name === "text" && (e.text === "first" || e.text === "second"))).toHaveLength(2);
});

test("one named trace gets no legend; a trace's own colour wins over the default sequence", () => {
  const { root } = draw({ data: [{ name: "alone", y: [1, 2, 3], mode: "lines", line: { color: "rgb(31,119,180)" } }] });
  expect(all(root, (e) => e.name === "text" && e.text === "alone")).toEqual([]);
  expect(all(root, byClass("line"))[0].attrs.stroke).toBe("rgb(31,119,180)");
});

test("a trace on yaxis2 maps on the right axis, with its ticks on the right", () => {
  const { root, plot } = draw({
    data: [
      { name: "accuracy", x: [1, 2], y: [0.5, 0.5], mode: "markers" },
      { name: "loss", x: [1, 2], y: [50, 100], mode: "markers", yaxis: "y2" },
    ],
    layout: { yaxis: { range: [0, 1] }, yaxis2: { overlaying: "y", side: "right", range: [0, 100], title: { text: "loss" } } },
  });
  const traces = all(root, byClass("trace"));
  const ys = (t: XmlElement) => all(t, byClass("point")).map((p) => Number(p.attrs.cy));
  const middle = (plot.top + plot.bottom) / 2;
  for (const y of [...ys(traces[0]), ys(traces[1])[0]]) expect(Math.abs(y - middle)).toBeLessThanOrEqual(0.1);
  expect(Math.abs(ys(traces[1])[1] - plot.top)).toBeLessThanOrEqual(0.1);
  const right = all(root, byClass("y2"));
  expect(right.map((t) => t.text)).toContain("100");
  right.forEach((t) => expect(Number(t.attrs.x)).toBeGreaterThan(plot.right));
  expect(all(root, byClass("y2title"))[0].text).toBe("loss");
});

test("text is escaped for XML: titles, names, categories, annotations", () => {
  const tricky = `<&> "quoted" 'single'`;
  const { svg, root } = draw({
    data: [
      { type: "bar", name: tricky, x: [tricky, "b"], y: [1, 2] },
      { type: "bar", name: "other", x: [tricky, "b"], y: [2, 1], text: ["a&b", "<c>"] },
    ],
    layout: { title: { text: tricky }, annotations: [{ text: tricky, x: 0.5, y: 0.5, xref: "paper", yref: "paper", showarrow: false }] },
  });
  expect(svg).not.toContain(tricky);
  expect(svg).toContain("&lt;&amp;&gt;");
  expect(all(root, byClass("title"))[0].text).toBe(tricky);
  expect(all(root, (e) => e.name === "text" && e.text === tricky).length).toBe(4); // title, legend, category, annotation
  expect(all(root, (e) => e.name === "text" && (e.text === "a&b" || e.text === "<c>"))).toHaveLength(2);
});

test("a heatmap has one rect per cell, coloured by its z on the colour scale, rows upwards", () => {
  const z = [
    [0, 0.5, 1],
    [0.25, null, 0.75],
  ];
  const { root, plot } = draw({
    data: [{ type: "heatmap", x: ["a", "b", "c"], y: ["p", "q"], z, zmin: 0, zmax: 1, colorscale: [[0, "#000000"], [1, "#ffffff"]], text: [["0", "½", "1"], ["¼", "", "¾"]], texttemplate: "%{text}" }],
    layout: { xaxis: { type: "category" }, yaxis: { type: "category" } },
  });
  const cells = all(root, byClass("cell"));
  expect(cells).toHaveLength(5);
  expect(cells.map((c) => c.attrs.fill)).toEqual(["#000000", "#808080", "#ffffff", "#404040", "#bfbfbf"]);
  // Row "p" is the bottom row, and the cells tile the plot area.
  const [first] = cells;
  expect(Math.abs(Number(first.attrs.y) + Number(first.attrs.height) - plot.bottom)).toBeLessThanOrEqual(0.2);
  expect(Math.abs(Number(first.attrs.x) - plot.left)).toBeLessThanOrEqual(0.2);
  expect(Math.abs(Number(first.attrs.width) - (plot.right - plot.left) / 3)).toBeLessThanOrEqual(0.2);
  // The cell texts, dark on light cells and light on dark ones; a colour bar beside the plot.
  const light = all(root, (e) => e.name === "text" && e.text === "¾")[0];
  expect(light.attrs.fill).toBe("#000000");
  expect(all(root, (e) => e.name === "text" && e.text === "0")[0].attrs.fill).toBe("#ffffff");
  expect(all(root, byClass("colorbar"))).toHaveLength(1);
});

test("on category axes a number that names no category is a position: a rectangle from 0.5 to 1.5 outlines the second cell", () => {
  const { root } = draw({
    data: [{ type: "heatmap", x: ["1", "16"], y: ["1", "8"], z: [[0, 1], [1, 0]] }],
    layout: { xaxis: { type: "category" }, yaxis: { type: "category" }, shapes: [{ type: "rect", x0: 0.5, x1: 1.5, y0: 0.5, y1: 1.5, line: { color: "red" } }] },
  });
  const cell = all(root, byClass("cell"))[3]; // x "16", y "8": the top right cell
  const outline = all(root, byClass("shape"))[0];
  for (const k of ["x", "y", "width", "height"]) expect(Math.abs(Number(outline.attrs[k]) - Number(cell.attrs[k]))).toBeLessThanOrEqual(0.2);
});

test("a named colour scale is used: Viridis runs from dark purple to yellow", () => {
  const { root } = draw({ data: [{ type: "heatmap", z: [[0, 1]], colorscale: "Viridis" }] });
  expect(all(root, byClass("cell")).map((c) => c.attrs.fill)).toEqual(["#440154", "#fde725"]);
});

test("a dashed vertical shape at an x spans the plot's height; annotations and log axes are drawn", () => {
  const { root, plot } = draw({
    data: [{ type: "bar", x: [10, 20, 30], y: [1, 10, 100] }],
    layout: {
      xaxis: { range: [0, 40] },
      yaxis: { type: "log" },
      shapes: [{ type: "line", x0: 20, x1: 20, y0: 0, y1: 1, yref: "paper", line: { dash: "dash", width: 1 } }],
      annotations: [{ text: "cut", x: 20, y: 1, yref: "paper", xanchor: "right", showarrow: false }],
    },
  });
  const shape = all(root, byClass("shape"))[0];
  const x = (plot.left + plot.right) / 2;
  expect(shape.attrs.d).toBe(`M${x} ${plot.bottom}L${x} ${plot.top}`.replace(/(\d+\.\d)\d+/g, "$1"));
  expect(shape.attrs["stroke-dasharray"]).toBeDefined();
  const note = all(root, byClass("annotation"))[0];
  expect(note.text).toBe("cut");
  expect(note.attrs["text-anchor"]).toBe("end");
  // Log axis: bars of 1, 10 and 100 rise by equal steps, and the ticks are powers of ten.
  const tops = all(root, byClass("bar")).map((b) => Number(b.attrs.y));
  expect(Math.abs(tops[0] - tops[1] - (tops[1] - tops[2]))).toBeLessThanOrEqual(0.2);
  expect(yTickLabels(root, plot.left).map((l) => l.text)).toEqual(expect.arrayContaining(["1", "10", "100"]));
});

test("the size is the layout's, or 700 x 450", () => {
  expect(draw({ data: [] }).root.attrs).toMatchObject({ width: "700", height: "450", viewBox: "0 0 700 450" });
  expect(draw({ data: [{ y: [1] }], layout: { width: 500, height: 300 } }).root.attrs).toMatchObject({ width: "500", height: "300" });
});

// ---------------------------------------------------------------------------------------------
// Every figure the book's notebooks have drawn.

const NOTEBOOKS = path.resolve(__dirname, "..", "..", "notebooks");

function committedFigures(): [string, PlotlyFigure][] {
  const found: [string, PlotlyFigure][] = [];
  for (const name of fs.readdirSync(NOTEBOOKS).filter((n) => n.endsWith(".ipynb")).sort()) {
    const notebook = JSON.parse(fs.readFileSync(path.join(NOTEBOOKS, name), "utf8")) as { cells: { outputs?: { data?: Record<string, unknown> }[] }[] };
    let k = 0;
    for (const output of notebook.cells.flatMap((c) => c.outputs ?? [])) {
      const figure = output.data?.["application/vnd.plotly.v1+json"];
      if (figure) found.push([`${name} figure ${++k}`, (typeof figure === "string" ? JSON.parse(figure) : figure) as PlotlyFigure]);
    }
  }
  return found;
}

const figures = committedFigures();

test("the notebooks hold figures of every kind the renderer draws", () => {
  const types = new Set(figures.flatMap(([, f]) => (f.data as { type?: string }[]).map((t) => t.type ?? "scatter")));
  expect([...types].sort()).toEqual(["bar", "heatmap", "scatter"]);
});

type Traced = { type?: string; mode?: string; x?: unknown[]; y?: unknown[]; z?: unknown[][] };

test.each(figures)("%s renders, with one drawn element per point, bar or cell", (_, figure) => {
  const { root } = draw(figure);
  const groups = all(root, byClass("trace"));
  expect(groups).toHaveLength(figure.data.length);
  (figure.data as Traced[]).forEach((trace, i) => {
    const g = groups.find((e) => e.attrs["data-index"] === String(i))!;
    const present = (trace.y ?? []).filter((v) => v !== null && v !== undefined).length;
    if (trace.type === "heatmap") {
      expect(all(g, byClass("cell"))).toHaveLength((trace.z ?? []).flat().filter((v) => v !== null).length);
    } else if (trace.type === "bar") {
      expect(all(g, byClass("bar"))).toHaveLength(present);
    } else {
      const mode = trace.mode ?? ((trace.y ?? []).length <= 20 ? "lines+markers" : "lines");
      if (mode.includes("lines")) expect(all(g, byClass("line")).flatMap(points)).toHaveLength(present);
      if (mode.includes("markers")) expect(all(g, byClass("point"))).toHaveLength(present);
    }
  });
  const title = ((figure.layout as { title?: { text?: string } }).title?.text ?? "").replace(/<[^>]+>/g, "");
  expect(root.children.find((c) => c.name === "title")?.text).toBe(title);
});
