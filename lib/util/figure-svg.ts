/**
 * A Plotly figure drawn as a static SVG, with no browser and no script: the picture a notebook
 * viewer shows when it has no Plotly renderer (the classic Jupyter Notebook, JupyterLab without
 * jupyterlab-plotly, GitHub's and nbviewer's notebook views).
 *
 * It reads the part of Plotly's figure schema the book's figures use: scatter traces (lines,
 * markers, text), bars (grouped, overlaid or stacked), heatmaps with a colour scale; linear, log and
 * category axes, a second y axis on the right, a title, a legend, line and rectangle shapes, and
 * annotations. It draws a correct chart, not a pixel copy of Plotly's; what it does not know it
 * leaves out. Text widths are estimated from the number of characters, since no font is measured.
 */

/** A Plotly figure as JSON: traces and layout. */
export interface PlotlyFigure {
  data: object[];
  layout?: object;
}

/** Plotly's default colour sequence: trace i takes colour i mod 10 unless it sets its own. */
export const PLOTLY_COLORS = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52"];

const DEFAULT_WIDTH = 700;
const DEFAULT_HEIGHT = 450;
const FONT = "'Open Sans', verdana, arial, sans-serif";
const FONT_SIZE = 12;
const TITLE_SIZE = 17;
const TEXT_COLOR = "#2a3f5f";
const PLOT_BACKGROUND = "#e5ecf6";
const GRID_COLOR = "#ffffff";
/** The average advance of a character as a share of the font size, for estimating text widths. */
const CHAR_WIDTH = 0.6;
const LEGEND_ROW = 20;

// ---------------------------------------------------------------------------------------------
// The part of Plotly's schema read here. Figures are plain JSON, so every field may be missing.

type Datum = number | string | null | undefined;
type Title = string | { text?: string };

interface LineStyle {
  color?: string;
  width?: number;
  dash?: string;
}

interface MarkerStyle {
  color?: string;
  size?: number;
  symbol?: string;
}

interface TraceSpec {
  type?: string;
  mode?: string;
  name?: string;
  visible?: boolean | string;
  showlegend?: boolean;
  x?: Datum[];
  y?: Datum[];
  z?: Datum[][];
  text?: string | string[] | string[][];
  textposition?: string;
  texttemplate?: string;
  yaxis?: string;
  line?: LineStyle;
  marker?: MarkerStyle;
  opacity?: number;
  width?: number;
  colorscale?: string | [number, string][];
  reversescale?: boolean;
  zmin?: number;
  zmax?: number;
  showscale?: boolean;
}

interface AxisSpec {
  title?: Title;
  range?: [number, number];
  type?: string;
  dtick?: number;
  tickformat?: string;
}

interface ShapeSpec {
  type?: string;
  x0?: Datum;
  x1?: Datum;
  y0?: Datum;
  y1?: Datum;
  xref?: string;
  yref?: string;
  line?: LineStyle;
  fillcolor?: string;
  opacity?: number;
}

interface AnnotationSpec {
  text?: string;
  x?: Datum;
  y?: Datum;
  xref?: string;
  yref?: string;
  xanchor?: string;
  yanchor?: string;
  showarrow?: boolean;
  ax?: number;
  ay?: number;
}

interface LayoutSpec {
  title?: Title;
  width?: number;
  height?: number;
  xaxis?: AxisSpec;
  yaxis?: AxisSpec;
  yaxis2?: AxisSpec;
  barmode?: string;
  bargap?: number;
  showlegend?: boolean;
  shapes?: ShapeSpec[];
  annotations?: AnnotationSpec[];
}

// ---------------------------------------------------------------------------------------------
// Text and numbers.

/** Escapes text for XML and drops the control characters XML does not allow. */
function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Plotly's text may carry a few HTML tags (<b>, <br>, <sup>...): keep their words, drop the tags. */
function plainText(text: unknown): string {
  if (text === null || text === undefined) return "";
  return String(text)
    .replace(/<br\s*\/?>/gi, " ")
    .replace(/<\/?(b|i|em|strong|sup|sub|span|a)(\s[^>]*)?>/gi, "");
}

function titleText(title: Title | undefined): string {
  return plainText(typeof title === "string" ? title : title?.text);
}

/** The figure's title, or "untitled". */
export function figureTitle(figure: PlotlyFigure): string {
  return titleText((figure.layout as LayoutSpec | undefined)?.title) || "untitled";
}

function textWidth(text: string, size: number): number {
  return text.length * size * CHAR_WIDTH;
}

/** Cuts text to fit a width, ending it with an ellipsis. */
function ellipsize(text: string, width: number, size: number): string {
  const chars = Math.floor(width / (size * CHAR_WIDTH));
  return text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`;
}

/** A pixel coordinate rounded to 0.1 px, which keeps the SVG small. */
function r(v: number): string {
  const x = Math.round(v * 10) / 10;
  return String(x === 0 ? 0 : x);
}

function toNumber(v: Datum): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function stripZeros(s: string): string {
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}

const SI = [
  { unit: 1e9, suffix: "B" },
  { unit: 1e6, suffix: "M" },
  { unit: 1e3, suffix: "k" },
];

/** A tick label: `decimals` places (trailing zeros dropped), and k, M, B from 10,000 up. */
function formatNumber(v: number, decimals: number): string {
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 1e4) {
    const { unit, suffix } = SI.find((s) => abs >= s.unit)!;
    return `${stripZeros((v / unit).toFixed(Math.max(0, decimals - Math.log10(unit))))}${suffix}`;
  }
  if (abs < 1e-3 && decimals > 3) return stripZeros(v.toExponential(Math.max(0, decimals + Math.floor(Math.log10(abs)))));
  return stripZeros(v.toFixed(Math.min(20, Math.max(0, decimals))));
}

/** The d3-format specifiers figures use for ticks: ".0%", ".2f", ",", ",.1f". Others get the default. */
function formatWith(tickformat: string | undefined, v: number, decimals: number): string {
  const m = /^(,)?(?:\.(\d+))?([%f])?$/.exec(tickformat ?? "");
  if (!tickformat || !m) return formatNumber(v, decimals);
  const [, comma, digits, type] = m;
  const value = type === "%" ? v * 100 : v;
  const places = digits !== undefined ? Number(digits) : Math.max(0, decimals - (type === "%" ? 2 : 0));
  const fixed = value.toFixed(places);
  const body = comma ? Number(fixed).toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places }) : fixed;
  return `${digits !== undefined ? body : stripZeros(body)}${type === "%" ? "%" : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Axes: a range in axis units (the value; its log10 on a log axis; its index on a category axis)
// mapped linearly onto pixels.

type AxisKind = "linear" | "log" | "category";

interface Axis {
  kind: AxisKind;
  categories: string[];
  lo: number;
  hi: number;
  /** The pixels lo and hi land on. */
  from: number;
  to: number;
  spec: AxisSpec;
}

interface Tick {
  at: number;
  label: string;
}

function axisKind(spec: AxisSpec, values: Datum[]): AxisKind {
  if (spec.type === "log" || spec.type === "category" || spec.type === "linear") return spec.type;
  return values.some((v) => typeof v === "string" && toNumber(v) === null) ? "category" : "linear";
}

function categoriesOf(values: Datum[]): string[] {
  return [...new Set(values.filter((v) => v !== null && v !== undefined).map(String))];
}

/** A datum in the axis's units, or null where it has no place on the axis. */
function units(axis: Axis, v: Datum): number | null {
  if (axis.kind === "category") {
    const i = v === null || v === undefined ? -1 : axis.categories.indexOf(String(v));
    if (i < 0 && typeof v === "number") return v; // as Plotly: a number that names no category is a position (0 the first, 0.5 between)
    return i < 0 ? null : i;
  }
  const n = toNumber(v);
  if (n === null) return null;
  if (axis.kind === "log") return n > 0 ? Math.log10(n) : null;
  return n;
}

function pixel(axis: Axis, u: number): number {
  return axis.from + ((u - axis.lo) / (axis.hi - axis.lo || 1)) * (axis.to - axis.from);
}

/** Where a datum lands in pixels, or null. */
function place(axis: Axis, v: Datum): number | null {
  const u = units(axis, v);
  return u === null ? null : pixel(axis, u);
}

/** What one trace needs an axis's automatic range to hold. */
interface Extent {
  values: number[];
  /** Leave 5% of the span free beyond the data, as Plotly does for markers and bars. */
  padded: boolean;
  /** Bars grow from zero: keep the range's end at zero, unpadded, when the data reaches it. */
  fromZero?: boolean;
}

function autorange(kind: AxisKind, categories: string[], extents: Extent[]): [number, number] {
  if (kind === "category") return [-0.5, Math.max(categories.length, 1) - 0.5];
  const values = extents.flatMap((e) => e.values).filter(Number.isFinite);
  if (values.length === 0) return [0, 1];
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const d = kind === "log" ? 0.5 : lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const padded = extents.some((e) => e.padded);
  const anchoredAtZero = extents.some((e) => e.fromZero) && kind === "linear";
  const pad = padded ? (hi - lo) * 0.05 : 0;
  if (!(anchoredAtZero && lo === 0)) lo -= pad;
  if (!(anchoredAtZero && hi === 0)) hi += pad;
  return [lo, hi];
}

/** The smallest of 1, 2, 5 times a power of ten that is at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

function decimalsOf(step: number): number {
  return Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
}

/** Ticks at multiples of a nice step (or the axis's dtick), about `target` of them over the range. */
function linearTicks(lo: number, hi: number, target: number, dtick?: number, tickformat?: string): Tick[] {
  const [min, max] = lo <= hi ? [lo, hi] : [hi, lo];
  const span = max - min;
  if (!(span > 0)) return [];
  // A little below span / target, so that a range like 0 to 1 on a short axis gets steps of 0.2, not 0.5.
  const step = dtick && dtick > 0 && span / dtick <= 50 ? dtick : niceStep((0.75 * span) / Math.max(1, target));
  const decimals = decimalsOf(step);
  const ticks: Tick[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k <= Math.floor(max / step + 1e-9); k++) {
    const at = Number((k * step).toFixed(Math.min(20, decimals + 2)));
    ticks.push({ at, label: formatWith(tickformat, at, decimals) });
  }
  return ticks;
}

/** Ticks at powers of ten; over a short range also at 2 and 5 times them, or every integer multiple. */
function logTicks(lo: number, hi: number, target: number): Tick[] {
  const [min, max] = lo <= hi ? [lo, hi] : [hi, lo];
  const decades = max - min;
  const mantissas = decades > 3 ? [1] : decades > 1 ? [1, 2, 5] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const stride = Math.max(1, Math.ceil(decades / Math.max(1, target)));
  const ticks: Tick[] = [];
  for (let e = Math.floor(min); e <= Math.ceil(max); e++) {
    if (mantissas.length === 1 && e % stride !== 0) continue;
    for (const m of mantissas) {
      const at = Math.log10(m) + e;
      if (at < min - 1e-9 || at > max + 1e-9) continue;
      const v = m * 10 ** e;
      ticks.push({ at, label: formatNumber(Number(v.toPrecision(6)), Math.max(0, -e)) });
    }
  }
  return ticks;
}

function axisTicks(axis: Axis, lengthPx: number, spacingPx: number): Tick[] {
  const target = Math.max(2, Math.floor(Math.abs(lengthPx) / spacingPx));
  if (axis.kind === "log") return logTicks(axis.lo, axis.hi, target);
  if (axis.kind === "linear") return linearTicks(axis.lo, axis.hi, target, axis.spec.dtick, axis.spec.tickformat);
  const every = Math.max(1, Math.ceil(axis.categories.length / Math.max(1, Math.abs(lengthPx) / 14)));
  return axis.categories.map((label, at) => ({ at, label })).filter((t) => t.at % every === 0);
}

// ---------------------------------------------------------------------------------------------
// Traces: which axes they use, what they need the axes to hold.

type TraceKind = "scatter" | "bar" | "heatmap";

interface Trace {
  spec: TraceSpec;
  kind: TraceKind;
  index: number;
  color: string;
  onY2: boolean;
  x: Datum[];
  y: Datum[];
}

function traceKind(spec: TraceSpec): TraceKind {
  return spec.type === "bar" || spec.type === "heatmap" ? spec.type : "scatter";
}

/** Scatter's default mode is Plotly's: lines and markers up to 20 points, lines beyond. */
function modeOf(t: Trace): string {
  return t.spec.mode ?? (t.y.length <= 20 ? "lines+markers" : "lines");
}

function traceOf(spec: TraceSpec, index: number): Trace {
  const kind = traceKind(spec);
  const rows = kind === "heatmap" ? (spec.z ?? []) : [];
  const length = kind === "heatmap" ? Math.max(0, ...rows.map((row) => row?.length ?? 0)) : (spec.y?.length ?? 0);
  const x = spec.x ?? Array.from({ length }, (_, i) => i);
  const y = kind === "heatmap" ? (spec.y ?? rows.map((_, i) => i)) : (spec.y ?? []);
  const color = spec.marker?.color ?? spec.line?.color ?? PLOTLY_COLORS[index % PLOTLY_COLORS.length];
  return { spec, kind, index, color: typeof color === "string" ? color : PLOTLY_COLORS[index % PLOTLY_COLORS.length], onY2: spec.yaxis === "y2", x, y };
}

/** Cell edges around centres: halfway to each neighbour, half a spacing beyond the ends. */
function cellEdges(centres: number[]): [number, number][] {
  return centres.map((c, i) => {
    const before = i > 0 ? (c - centres[i - 1]) / 2 : i + 1 < centres.length ? (centres[i + 1] - c) / 2 : 0.5;
    const after = i + 1 < centres.length ? (centres[i + 1] - c) / 2 : before;
    return [c - before, c + after];
  });
}

/** Bars of one figure: how wide they are and where each trace's bar sits in its slot. */
interface BarPlan {
  mode: string;
  slot: number;
  gap: number;
  barTraces: number[];
}

function barPlan(traces: Trace[], layout: LayoutSpec, x: Axis): BarPlan {
  const barTraces = traces.filter((t) => t.kind === "bar").map((t) => t.index);
  let slot = 1;
  if (x.kind !== "category") {
    const centres = [...new Set(traces.filter((t) => t.kind === "bar").flatMap((t) => t.x.map((v) => units(x, v)).filter((u): u is number => u !== null)))].sort((a, b) => a - b);
    const gaps = centres.slice(1).map((c, i) => c - centres[i]).filter((d) => d > 0);
    slot = gaps.length ? Math.min(...gaps) : 1;
  }
  return { mode: layout.barmode ?? "group", slot, gap: layout.bargap ?? 0.2, barTraces };
}

/** A bar's offset from its slot's centre and its width, in x units. */
function barGeometry(plan: BarPlan, t: Trace): { offset: number; width: number } {
  const groupWidth = plan.slot * (1 - plan.gap);
  if (plan.mode === "group" && plan.barTraces.length > 1) {
    const width = groupWidth / plan.barTraces.length;
    const k = plan.barTraces.indexOf(t.index);
    return { offset: -groupWidth / 2 + (k + 0.5) * width, width: t.spec.width ?? width };
  }
  return { offset: 0, width: t.spec.width ?? groupWidth };
}

/** A bar's base and top in y units; the base is null on a log axis, where bars rise from its bottom. */
interface BarSpan {
  base: number | null;
  top: number;
}

function isStacked(plan: BarPlan): boolean {
  return plan.mode === "stack" || plan.mode === "relative";
}

/** Each bar trace's spans, by trace index; stacked bars start where the previous trace's ended. */
function barSpans(traces: Trace[], plan: BarPlan, x: Axis, yOf: (t: Trace) => Axis): Map<number, (BarSpan | null)[]> {
  const stacks = new Map<string, number>();
  const spans = new Map<number, (BarSpan | null)[]>();
  for (const t of traces.filter((tr) => tr.kind === "bar")) {
    const y = yOf(t);
    spans.set(
      t.index,
      t.y.map((v, j) => {
        const value = toNumber(v);
        const at = units(x, t.x[j]);
        if (value === null || at === null) return null;
        if (y.kind === "log") return value > 0 ? { base: null, top: Math.log10(value) } : null;
        const key = `${t.onY2}:${at}:${value < 0}`;
        const base = isStacked(plan) ? (stacks.get(key) ?? 0) : 0;
        if (isStacked(plan)) stacks.set(key, base + value);
        return { base, top: base + value };
      }),
    );
  }
  return spans;
}

function xExtent(t: Trace, x: Axis, plan: BarPlan): Extent {
  const centres = t.x.map((v) => units(x, v)).filter((u): u is number => u !== null);
  if (t.kind === "heatmap") return { values: cellEdges(centres).flat(), padded: false };
  if (t.kind === "bar") {
    const { offset, width } = barGeometry(plan, t);
    return { values: centres.flatMap((c) => [c + offset - width / 2, c + offset + width / 2]), padded: false };
  }
  return { values: centres, padded: /markers|text/.test(modeOf(t)) };
}

function yExtent(t: Trace, y: Axis, spans: Map<number, (BarSpan | null)[]>): Extent {
  if (t.kind === "heatmap") return { values: cellEdges(t.y.map((v) => units(y, v)).filter((u): u is number => u !== null)).flat(), padded: false };
  if (t.kind === "bar") {
    const bars = (spans.get(t.index) ?? []).filter((s): s is BarSpan => s !== null);
    return { values: bars.flatMap((s) => (s.base === null ? [s.top] : [s.base, s.top])), padded: true, fromZero: true };
  }
  return { values: t.y.map((v) => units(y, v)).filter((u): u is number => u !== null), padded: true };
}

// ---------------------------------------------------------------------------------------------
// Colours.

const COLORSCALES: Record<string, string[]> = {
  viridis: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"],
  plasma: ["#0d0887", "#46039f", "#7201a8", "#9c179e", "#bd3786", "#d8576b", "#ed7953", "#fb9f3a", "#fdca26", "#f0f921"],
  cividis: ["#00224e", "#123570", "#3b496c", "#575d6d", "#707173", "#8a8678", "#a59c74", "#c3b369", "#e1cc55", "#fee838"],
  blues: ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"],
  greens: ["#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"],
  reds: ["#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d"],
  greys: ["#ffffff", "#f0f0f0", "#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252", "#252525", "#000000"],
  rdbu: ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"],
};

type Rgb = [number, number, number];

function parseColor(color: string): Rgb | null {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (hex) {
    const h = hex[1].length === 3 ? [...hex[1]].map((c) => c + c).join("") : hex[1];
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as Rgb;
  }
  const rgb = /^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)/i.exec(color.trim());
  return rgb ? [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])] : null;
}

function hex(rgb: Rgb): string {
  return `#${rgb.map((c) => Math.round(Math.min(255, Math.max(0, c))).toString(16).padStart(2, "0")).join("")}`;
}

/** A colour scale as stops from 0 to 1: a named one (Plotly's default, Plasma, if unknown) or [t, colour] pairs. */
function colorStops(spec: TraceSpec): [number, string][] {
  const scale = spec.colorscale;
  let stops: [number, string][];
  if (Array.isArray(scale) && scale.length >= 2) stops = scale.map(([t, c]) => [Number(t), String(c)]);
  else {
    const colors = COLORSCALES[String(scale ?? "plasma").toLowerCase()] ?? COLORSCALES.plasma;
    stops = colors.map((c, i) => [i / (colors.length - 1), c]);
  }
  return spec.reversescale ? stops.map(([t, c]) => [1 - t, c] as [number, string]).reverse() : stops;
}

/** The scale's colour at t in [0, 1], interpolated in RGB between the stops around it. */
function colorAt(stops: [number, string][], t: number): string {
  const x = Math.min(1, Math.max(0, t));
  const i = Math.max(0, stops.findIndex(([s]) => s >= x) - 1);
  const [t0, c0] = stops[i];
  const [t1, c1] = stops[Math.min(i + 1, stops.length - 1)];
  const a = parseColor(c0);
  const b = parseColor(c1);
  if (!a || !b) return x - t0 <= t1 - x ? c0 : c1;
  const f = t1 > t0 ? (x - t0) / (t1 - t0) : 0;
  return hex([0, 1, 2].map((k) => a[k] + (b[k] - a[k]) * f) as Rgb);
}

function isDark(color: string): boolean {
  const rgb = parseColor(color);
  return rgb !== null && 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 140;
}

function zRange(spec: TraceSpec): [number, number] {
  const zs = (spec.z ?? []).flat().map(toNumber).filter((v): v is number => v !== null);
  const lo = spec.zmin ?? (zs.length ? Math.min(...zs) : 0);
  const hi = spec.zmax ?? (zs.length ? Math.max(...zs) : 1);
  return [lo, hi > lo ? hi : lo + 1];
}

// ---------------------------------------------------------------------------------------------
// SVG pieces.

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join("");
}

function text(x: number, y: number, content: string, a: Record<string, string | number | undefined> = {}): string {
  return `<text${attrs({ x: r(x), y: r(y), ...a })}>${escapeXml(content)}</text>`;
}

function dashArray(dash: string | undefined, width: number): string | undefined {
  const w = Math.max(1, width);
  switch (dash) {
    case undefined:
    case "solid":
      return undefined;
    case "dot":
      return `${r(w)},${r(2 * w)}`;
    case "dash":
      return `${r(4 * w)},${r(3 * w)}`;
    case "longdash":
      return `${r(8 * w)},${r(3 * w)}`;
    case "dashdot":
      return `${r(4 * w)},${r(2 * w)},${r(w)},${r(2 * w)}`;
    case "longdashdot":
      return `${r(8 * w)},${r(2 * w)},${r(w)},${r(2 * w)}`;
    default:
      return dash.replace(/px/g, "").replace(/\s+/g, ",");
  }
}

function markerSvg(x: number, y: number, size: number, symbol: string, color: string): string {
  const open = symbol.endsWith("-open");
  const paint = open ? { fill: "none", stroke: color, "stroke-width": 1.5 } : { fill: color };
  const h = size / 2;
  const polygon = (pts: [number, number][]) => `<polygon${attrs({ class: "point", points: pts.map(([a, b]) => `${r(x + a)},${r(y + b)}`).join(" "), ...paint })}/>`;
  switch (symbol.replace(/-open$/, "")) {
    case "square":
      return `<rect${attrs({ class: "point", x: r(x - h), y: r(y - h), width: r(size), height: r(size), ...paint })}/>`;
    case "diamond":
      return polygon([[0, -1.3 * h], [1.3 * h, 0], [0, 1.3 * h], [-1.3 * h, 0]]);
    case "triangle-up":
      return polygon([[0, -1.2 * h], [1.1 * h, 0.8 * h], [-1.1 * h, 0.8 * h]]);
    case "triangle-down":
      return polygon([[0, 1.2 * h], [1.1 * h, -0.8 * h], [-1.1 * h, -0.8 * h]]);
    default:
      return `<circle${attrs({ class: "point", cx: r(x), cy: r(y), r: r(h), ...paint })}/>`;
  }
}

/** Where a point's text goes for a textposition such as "top center". */
function textAround(x: number, y: number, position: string | undefined, gap: number): { x: number; y: number; anchor: string } {
  const [vertical, horizontal] = (position ?? "middle center").split(" ");
  const anchor = horizontal === "left" ? "end" : horizontal === "right" ? "start" : "middle";
  const dx = horizontal === "left" ? -gap : horizontal === "right" ? gap : 0;
  const dy = vertical === "top" ? -gap - 3 : vertical === "bottom" ? gap + FONT_SIZE : FONT_SIZE * 0.35;
  return { x: x + dx, y: y + dy, anchor };
}

function pointText(spec: TraceSpec, j: number): string {
  const t = spec.text;
  const raw = Array.isArray(t) ? t[j] : t;
  return plainText(Array.isArray(raw) ? raw.join(" ") : raw);
}

interface Frame {
  x: Axis;
  y: Axis;
  y2: Axis | null;
}

function yAxisOf(frame: Frame, t: Trace): Axis {
  return t.onY2 && frame.y2 ? frame.y2 : frame.y;
}

function scatterSvg(t: Trace, frame: Frame): string {
  const y = yAxisOf(frame, t);
  const mode = modeOf(t);
  const points = t.y.map((v, j) => {
    const px = place(frame.x, t.x[j]);
    const py = place(y, v);
    return px === null || py === null ? null : ([px, py] as [number, number]);
  });
  const parts: string[] = [];
  if (mode.includes("lines")) {
    const width = t.spec.line?.width ?? 2;
    const color = t.spec.line?.color ?? t.color;
    const runs: [number, number][][] = [[]];
    for (const p of points) {
      if (p) runs[runs.length - 1].push(p);
      else if (runs[runs.length - 1].length) runs.push([]);
    }
    for (const run of runs.filter((rn) => rn.length)) {
      const a = { class: "line", points: run.map(([a, b]) => `${r(a)},${r(b)}`).join(" "), fill: "none", stroke: color, "stroke-width": width, "stroke-dasharray": dashArray(t.spec.line?.dash, width), "stroke-linejoin": "round" };
      parts.push(`<polyline${attrs(a)}/>`);
    }
  }
  const size = t.spec.marker?.size ?? 6;
  if (mode.includes("markers")) {
    const color = t.spec.marker?.color ?? t.color;
    for (const p of points) if (p) parts.push(markerSvg(p[0], p[1], size, t.spec.marker?.symbol ?? "circle", color));
  }
  if (mode.includes("text")) {
    points.forEach((p, j) => {
      const label = pointText(t.spec, j);
      if (!p || !label) return;
      const at = textAround(p[0], p[1], t.spec.textposition, mode.includes("markers") ? size / 2 + 2 : 2);
      parts.push(text(at.x, at.y, label, { "text-anchor": at.anchor, "font-size": 11 }));
    });
  }
  return parts.join("");
}

function barSvg(t: Trace, frame: Frame, plan: BarPlan, spans: (BarSpan | null)[]): string {
  const y = yAxisOf(frame, t);
  const { offset, width } = barGeometry(plan, t);
  const [plotTop, plotBottom] = [Math.min(y.from, y.to), Math.max(y.from, y.to)];
  const clampY = (v: number) => Math.min(plotBottom, Math.max(plotTop, v));
  const parts: string[] = [];
  spans.forEach((span, j) => {
    const at = units(frame.x, t.x[j]);
    if (!span || at === null) return;
    const x0 = pixel(frame.x, at + offset - width / 2);
    const x1 = pixel(frame.x, at + offset + width / 2);
    const yBase = span.base === null ? plotBottom : clampY(pixel(y, span.base));
    const yTop = clampY(pixel(y, span.top));
    const top = Math.min(yBase, yTop);
    parts.push(`<rect${attrs({ class: "bar", x: r(Math.min(x0, x1)), y: r(top), width: r(Math.abs(x1 - x0)), height: r(Math.abs(yBase - yTop)), fill: t.color })}/>`);
    const label = t.spec.textposition === "none" ? "" : pointText(t.spec, j);
    if (!label) return;
    const cx = (x0 + x1) / 2;
    const up = yTop <= yBase;
    const inside = t.spec.textposition !== "outside" && Math.abs(yBase - yTop) > FONT_SIZE + 6;
    const ty = inside ? (up ? yTop + FONT_SIZE + 2 : yTop - 4) : up ? yTop - 4 : yTop + FONT_SIZE + 2;
    parts.push(text(cx, ty, label, { "text-anchor": "middle", "font-size": 11, fill: inside && isDark(t.color) ? "#ffffff" : undefined }));
  });
  return `<g${attrs({ opacity: t.spec.opacity })}>${parts.join("")}</g>`;
}

function heatmapSvg(t: Trace, frame: Frame): string {
  const y = yAxisOf(frame, t);
  const stops = colorStops(t.spec);
  const [zmin, zmax] = zRange(t.spec);
  const xCells = cellEdges(t.x.map((v) => units(frame.x, v) ?? NaN));
  const yCells = cellEdges(t.y.map((v) => units(y, v) ?? NaN));
  const showText = t.spec.texttemplate !== undefined || t.spec.text !== undefined;
  const parts: string[] = [];
  (t.spec.z ?? []).forEach((row, i) => {
    (row ?? []).forEach((v, j) => {
      const z = toNumber(v);
      if (z === null || !xCells[j] || !yCells[i] || xCells[j].some(Number.isNaN) || yCells[i].some(Number.isNaN)) return;
      const [x0, x1] = xCells[j].map((u) => pixel(frame.x, u));
      const [y0, y1] = yCells[i].map((u) => pixel(y, u));
      const fill = colorAt(stops, (z - zmin) / (zmax - zmin));
      parts.push(`<rect${attrs({ class: "cell", x: r(Math.min(x0, x1)), y: r(Math.min(y0, y1)), width: r(Math.abs(x1 - x0)), height: r(Math.abs(y1 - y0)), fill })}/>`);
      if (!showText) return;
      const label = cellText(t.spec, i, j, z);
      if (label) parts.push(text((x0 + x1) / 2, (y0 + y1) / 2 + FONT_SIZE * 0.35, label, { "text-anchor": "middle", fill: isDark(fill) ? "#ffffff" : "#000000" }));
    });
  });
  return parts.join("");
}

/** A cell's text: its texttemplate with %{text}, %{z}, %{x} and %{y} filled in, or its text. */
function cellText(spec: TraceSpec, i: number, j: number, z: number): string {
  const grid = Array.isArray(spec.text) ? (spec.text[i] as unknown) : spec.text;
  const cell = Array.isArray(grid) ? grid[j] : grid;
  const template = spec.texttemplate ?? "%{text}";
  const fields: Record<string, string> = { text: plainText(cell), z: formatNumber(z, 3), x: plainText(spec.x?.[j]), y: plainText(spec.y?.[i]) };
  return plainText(template.replace(/%\{(\w+)[^}]*\}/g, (_, key: string) => fields[key] ?? ""));
}

// ---------------------------------------------------------------------------------------------
// The frame around the plot: axes, legend, colour bar, shapes, annotations.

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

function gridAndTicks(frame: Frame, box: Box, ticks: { x: Tick[]; y: Tick[]; y2: Tick[] }, rotateX: boolean): string {
  const grid: string[] = [];
  const labels: string[] = [];
  for (const t of ticks.x) {
    const px = pixel(frame.x, t.at);
    if (frame.x.kind !== "category") grid.push(`M${r(px)} ${r(box.top)}V${r(box.bottom)}`);
    labels.push(
      rotateX
        ? text(px, box.bottom + 14, t.label, { "text-anchor": "end", transform: `rotate(-30 ${r(px)} ${r(box.bottom + 14)})` })
        : text(px, box.bottom + 16, t.label, { "text-anchor": "middle" }),
    );
  }
  for (const t of ticks.y) {
    const py = pixel(frame.y, t.at);
    if (frame.y.kind !== "category") grid.push(`M${r(box.left)} ${r(py)}H${r(box.right)}`);
    labels.push(text(box.left - 6, py + FONT_SIZE * 0.35, t.label, { "text-anchor": "end" }));
  }
  if (frame.y2) for (const t of ticks.y2) labels.push(text(box.right + 6, pixel(frame.y2, t.at) + FONT_SIZE * 0.35, t.label, { "text-anchor": "start", class: "y2" }));
  const gridPath = grid.length ? `<path${attrs({ d: grid.join(""), stroke: GRID_COLOR, "stroke-width": 1, fill: "none" })}/>` : "";
  return gridPath + labels.join("");
}

interface LegendItem {
  trace: Trace;
  name: string;
  width: number;
}

function legendItems(traces: Trace[], layout: LayoutSpec, maxWidth: number): LegendItem[] {
  const named = traces.filter((t) => t.kind !== "heatmap" && t.spec.showlegend !== false && plainText(t.spec.name) !== "");
  if (layout.showlegend === false || named.length < (layout.showlegend === true ? 1 : 2)) return [];
  return named.map((trace) => {
    const name = ellipsize(plainText(trace.spec.name), maxWidth - 46, FONT_SIZE);
    return { trace, name, width: 46 + textWidth(name, FONT_SIZE) };
  });
}

/** Legend items flowed into rows no wider than `width`. */
function legendRows(items: LegendItem[], width: number): LegendItem[][] {
  const rows: LegendItem[][] = [];
  let used = Infinity;
  for (const item of items) {
    if (used + item.width > width) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1].push(item);
    used += item.width;
  }
  return rows;
}

function legendSwatch(t: Trace, x: number, y: number): string {
  if (t.kind === "bar") return `<rect${attrs({ x: r(x + 6), y: r(y - 6), width: 12, height: 12, fill: t.color, opacity: t.spec.opacity })}/>`;
  const mode = modeOf(t);
  const parts: string[] = [];
  if (mode.includes("lines")) {
    const width = Math.min(t.spec.line?.width ?? 2, 4);
    parts.push(`<path${attrs({ d: `M${r(x)} ${r(y)}H${r(x + 24)}`, stroke: t.spec.line?.color ?? t.color, "stroke-width": width, "stroke-dasharray": dashArray(t.spec.line?.dash, width) })}/>`);
  }
  if (mode.includes("markers")) parts.push(markerSvg(x + 12, y, Math.min(t.spec.marker?.size ?? 6, 10), t.spec.marker?.symbol ?? "circle", t.spec.marker?.color ?? t.color).replace(' class="point"', ""));
  return parts.join("");
}

function legendSvg(rows: LegendItem[][], left: number, top: number): string {
  return rows
    .map((row, i) => {
      let x = left;
      const y = top + i * LEGEND_ROW + LEGEND_ROW / 2;
      return row
        .map((item) => {
          const svg = legendSwatch(item.trace, x, y) + text(x + 30, y + FONT_SIZE * 0.35, item.name);
          x += item.width;
          return svg;
        })
        .join("");
    })
    .join("");
}

function colorbarSvg(t: Trace, box: Box): string {
  const stops = colorStops(t.spec);
  const [zmin, zmax] = zRange(t.spec);
  const x = box.right + 16;
  const steps = 32;
  const h = (box.bottom - box.top) / steps;
  const parts: string[] = [];
  for (let k = 0; k < steps; k++) {
    const y0 = box.bottom - (k + 1) * h;
    parts.push(`<rect${attrs({ x: r(x), y: r(y0), width: 14, height: r(h + 0.5), fill: colorAt(stops, (k + 0.5) / steps) })}/>`);
  }
  for (const tick of linearTicks(zmin, zmax, Math.max(2, Math.floor((box.bottom - box.top) / 45)))) {
    const y = box.bottom - ((tick.at - zmin) / (zmax - zmin)) * (box.bottom - box.top);
    parts.push(text(x + 20, y + FONT_SIZE * 0.35, tick.label));
  }
  return `<g class="colorbar">${parts.join("")}</g>`;
}

/** A shape's or annotation's coordinate in pixels: "paper" runs 0 to 1 across the plot area. */
function refPixel(frame: Frame, box: Box, ref: string | undefined, v: Datum, vertical: boolean): number | null {
  if (ref === "paper") {
    const n = toNumber(v);
    return n === null ? null : vertical ? box.bottom - n * (box.bottom - box.top) : box.left + n * (box.right - box.left);
  }
  if (!vertical) return place(frame.x, v);
  return place(ref === "y2" && frame.y2 ? frame.y2 : frame.y, v);
}

function shapeSvg(s: ShapeSpec, frame: Frame, box: Box): string {
  const [x0, x1] = [refPixel(frame, box, s.xref, s.x0, false), refPixel(frame, box, s.xref, s.x1, false)];
  const [y0, y1] = [refPixel(frame, box, s.yref, s.y0, true), refPixel(frame, box, s.yref, s.y1, true)];
  if (x0 === null || x1 === null || y0 === null || y1 === null) return "";
  const width = s.line?.width ?? 2;
  const stroke = { stroke: s.line?.color ?? "#444444", "stroke-width": width, "stroke-dasharray": dashArray(s.line?.dash, width), opacity: s.opacity };
  if (s.type === "rect") return `<rect${attrs({ class: "shape", x: r(Math.min(x0, x1)), y: r(Math.min(y0, y1)), width: r(Math.abs(x1 - x0)), height: r(Math.abs(y1 - y0)), fill: s.fillcolor ?? "none", ...stroke })}/>`;
  if (s.type === "line" || s.type === undefined) return `<path${attrs({ class: "shape", d: `M${r(x0)} ${r(y0)}L${r(x1)} ${r(y1)}`, fill: "none", ...stroke })}/>`;
  return "";
}

/** Plotly's "auto" anchor: centred on data and arrows; on paper, the side nearest the point. */
function autoAnchor(given: string | undefined, paper: boolean, v: number, low: string, high: string): string {
  if (given && given !== "auto") return given;
  if (!paper) return "center";
  return v < 1 / 3 ? low : v > 2 / 3 ? high : "center";
}

function annotationSvg(a: AnnotationSpec, frame: Frame, box: Box): string {
  const px = refPixel(frame, box, a.xref, a.x, false);
  const py = refPixel(frame, box, a.yref, a.y, true);
  const label = plainText(a.text);
  if (px === null || py === null || !label) return "";
  const arrow = a.showarrow !== false;
  const tx = arrow ? px + (a.ax ?? -10) : px;
  const ty = arrow ? py + (a.ay ?? -30) : py;
  const xa = arrow ? "center" : autoAnchor(a.xanchor, a.xref === "paper", toNumber(a.x) ?? 0.5, "left", "right");
  const ya = arrow ? "middle" : autoAnchor(a.yanchor, a.yref === "paper", toNumber(a.y) ?? 0.5, "bottom", "top");
  const anchor = xa === "left" ? "start" : xa === "right" ? "end" : "middle";
  const baseline = ya === "top" ? ty + FONT_SIZE : ya === "bottom" ? ty - 3 : ty + FONT_SIZE * 0.35;
  const line = arrow ? `<path${attrs({ d: `M${r(tx)} ${r(py > ty ? ty + 6 : ty - 6)}L${r(px)} ${r(py)}`, stroke: "#444444", "stroke-width": 1 })}/>` : "";
  return `${line}${text(tx, baseline, label, { "text-anchor": anchor, class: "annotation" })}`;
}

// ---------------------------------------------------------------------------------------------
// The whole figure.

/** A hash of the figure, so that the clip path's id differs between figures inlined in one page. */
function hashOf(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

function makeAxis(spec: AxisSpec, values: Datum[]): Axis {
  const kind = axisKind(spec, values);
  return { kind, categories: kind === "category" ? categoriesOf(values) : [], lo: 0, hi: 1, from: 0, to: 1, spec };
}

function setRange(axis: Axis, extents: Extent[]): void {
  const given = axis.spec.range;
  const [lo, hi] = Array.isArray(given) && given.length === 2 && given.every((v) => typeof v === "number" && Number.isFinite(v)) && given[0] !== given[1] ? given : autorange(axis.kind, axis.categories, extents);
  axis.lo = lo;
  axis.hi = hi;
}

function widest(ticks: Tick[]): number {
  return Math.max(0, ...ticks.map((t) => textWidth(t.label, FONT_SIZE)));
}

/** Draws a Plotly figure as an SVG document: a static picture that needs no script to show. */
export function figureSvg(figure: PlotlyFigure): string {
  const layout = (figure.layout ?? {}) as LayoutSpec;
  const width = layout.width && layout.width > 0 ? layout.width : DEFAULT_WIDTH;
  const height = layout.height && layout.height > 0 ? layout.height : DEFAULT_HEIGHT;
  const traces = (figure.data as TraceSpec[]).map(traceOf).filter((t) => t.spec.visible !== false && t.spec.visible !== "legendonly");
  const y2Used = traces.some((t) => t.onY2);
  const frame: Frame = {
    x: makeAxis(layout.xaxis ?? {}, traces.flatMap((t) => t.x)),
    y: makeAxis(layout.yaxis ?? {}, traces.filter((t) => !t.onY2 || !y2Used).flatMap((t) => t.y)),
    y2: y2Used ? makeAxis(layout.yaxis2 ?? {}, traces.filter((t) => t.onY2).flatMap((t) => t.y)) : null,
  };
  const plan = barPlan(traces, layout, frame.x);
  setRange(frame.x, traces.map((t) => xExtent(t, frame.x, plan)));
  const spans = barSpans(traces, plan, frame.x, (t) => yAxisOf(frame, t));
  setRange(frame.y, traces.filter((t) => yAxisOf(frame, t) === frame.y).map((t) => yExtent(t, frame.y, spans)));
  if (frame.y2) setRange(frame.y2, traces.filter((t) => t.onY2).map((t) => yExtent(t, frame.y2!, spans)));

  const title = titleText(layout.title);
  const xTitle = titleText(layout.xaxis?.title);
  const yTitle = titleText(layout.yaxis?.title);
  const y2Title = titleText(layout.yaxis2?.title);
  const heatmap = traces.find((t) => t.kind === "heatmap" && t.spec.showscale !== false);

  // Vertical space first (its tick count sets the y labels' width), then horizontal, then the rest.
  const top = title ? 50 : 20;
  const roughPlotHeight = height - top - 70;
  const yTicks = axisTicks(frame.y, roughPlotHeight, 50);
  const y2Ticks = frame.y2 ? axisTicks(frame.y2, roughPlotHeight, 50) : [];
  const left = 12 + (yTitle ? 22 : 0) + Math.max(24, widest(yTicks)) + 8;
  const right = width - (frame.y2 ? 12 + (y2Title ? 22 : 0) + Math.max(24, widest(y2Ticks)) + 8 : heatmap ? 90 : 24);
  frame.x.from = left;
  frame.x.to = right;
  const xTicks = axisTicks(frame.x, right - left, 80);
  const slotWidth = (right - left) / Math.max(1, xTicks.length);
  const rotateX = frame.x.kind === "category" && widest(xTicks) > slotWidth - 6;
  const xLabelsHeight = rotateX ? 14 + widest(xTicks) * 0.5 + 6 : 24;
  const items = legendItems(traces, layout, width - 24);
  const rows = legendRows(items, width - 24);
  const bottom = height - (xLabelsHeight + (xTitle ? 22 : 0) + (rows.length ? rows.length * LEGEND_ROW + 8 : 0) + 8);
  const box: Box = { left, top, right, bottom };
  frame.y.from = bottom;
  frame.y.to = top;
  if (frame.y2) Object.assign(frame.y2, { from: bottom, to: top });

  const clipId = `clip-${hashOf(JSON.stringify(figure))}`;
  const parts: string[] = [
    `<rect${attrs({ width, height, fill: "#ffffff" })}/>`,
    `<rect${attrs({ x: r(left), y: r(top), width: r(right - left), height: r(bottom - top), fill: PLOT_BACKGROUND })}/>`,
    gridAndTicks(frame, box, { x: xTicks, y: yTicks, y2: y2Ticks }, rotateX),
    `<defs><clipPath id="${clipId}"><rect${attrs({ x: r(left), y: r(top), width: r(right - left), height: r(bottom - top) })}/></clipPath></defs>`,
    `<g clip-path="url(#${clipId})">`,
    ...traces.map((t) => `<g${attrs({ class: "trace", "data-type": t.kind, "data-index": t.index })}>${traceSvg(t, frame, plan, spans)}</g>`),
    "</g>",
    ...(layout.shapes ?? []).map((s) => shapeSvg(s, frame, box)),
    ...(layout.annotations ?? []).map((a) => annotationSvg(a, frame, box)),
  ];
  if (title) {
    const size = Math.max(11, Math.min(TITLE_SIZE, (width - left - 12) / (title.length * CHAR_WIDTH)));
    parts.push(text(left, 32, ellipsize(title, width - left - 12, size), { "font-size": r(size), class: "title" }));
  }
  if (xTitle) parts.push(text((left + right) / 2, bottom + xLabelsHeight + 14, ellipsize(xTitle, right - left, FONT_SIZE), { "text-anchor": "middle", class: "xtitle" }));
  if (yTitle) parts.push(text(18, (top + bottom) / 2, ellipsize(yTitle, height - 16, FONT_SIZE), { "text-anchor": "middle", transform: `rotate(-90 18 ${r((top + bottom) / 2)})`, class: "ytitle" }));
  if (frame.y2 && y2Title) parts.push(text(width - 12, (top + bottom) / 2, ellipsize(y2Title, height - 16, FONT_SIZE), { "text-anchor": "middle", transform: `rotate(90 ${r(width - 12)} ${r((top + bottom) / 2)})`, class: "y2title" }));
  if (heatmap) parts.push(colorbarSvg(heatmap, box));
  parts.push(legendSvg(rows, 12, bottom + xLabelsHeight + (xTitle ? 22 : 0) + 4));

  const head = attrs({ xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}`, "font-family": FONT, "font-size": FONT_SIZE, fill: TEXT_COLOR });
  return `<svg${head}><title>${escapeXml(title || "figure")}</title>${parts.join("")}</svg>`;
}

function traceSvg(t: Trace, frame: Frame, plan: BarPlan, spans: Map<number, (BarSpan | null)[]>): string {
  if (t.kind === "heatmap") return heatmapSvg(t, frame);
  if (t.kind === "bar") return barSvg(t, frame, plan, spans.get(t.index) ?? []);
  return scatterSvg(t, frame);
}
