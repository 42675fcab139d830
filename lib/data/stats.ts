import type { ImdbManifest } from "./imdb-files";
import type { PlotlyFigure } from "../util/display";
import { SPLIT_NAMES } from "./types";

// Numbers and one figure about the dataset, for the book: reviews per split and label, and how
// long reviews are in tokens (which sets how much truncation at 512 and padding costs).

export interface SplitCounts {
  split: string;
  count: number;
  neg: number;
  pos: number;
  /** Share of positive reviews, 0..1. */
  posShare: number;
}

/** The figure type lengthHistogram returns (defined with showFigure, which draws it). */
export type { PlotlyFigure };

/** Reviews per split and label, from the manifest (no need to read the reviews). */
export function splitCounts(manifest: ImdbManifest): SplitCounts[] {
  return SPLIT_NAMES.map((split) => {
    const { count, neg, pos } = manifest.splits[split];
    return { split, count, neg, pos, posShare: pos / count };
  });
}

/** The counts as an aligned text table, with a total row. */
export function formatSplitCounts(rows: readonly SplitCounts[]): string {
  const total = rows.reduce((t, r) => ({ count: t.count + r.count, neg: t.neg + r.neg, pos: t.pos + r.pos }), { count: 0, neg: 0, pos: 0 });
  const all = [...rows, { split: "all", ...total, posShare: total.pos / total.count }];
  const n = (x: number) => x.toLocaleString("en-US");
  const table = [["split", "reviews", "neg", "pos", "pos %"], ...all.map((r) => [r.split, n(r.count), n(r.neg), n(r.pos), (r.posShare * 100).toFixed(2)])];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  return table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}

export interface LengthSummary {
  count: number;
  min: number;
  median: number;
  mean: number;
  p90: number;
  max: number;
  /** Reviews at maxLength, i.e. cut short by truncation (0 when maxLength is not given). */
  truncated: number;
}

/** Summary of review lengths in tokens. */
export function lengthSummary(lengths: ArrayLike<number>, maxLength?: number): LengthSummary {
  if (lengths.length === 0) throw new Error("lengthSummary: no lengths");
  const sorted = Float64Array.from(lengths).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  let sum = 0;
  let truncated = 0;
  for (const x of sorted) {
    sum += x;
    if (maxLength !== undefined && x >= maxLength) truncated++;
  }
  return { count: sorted.length, min: sorted[0], median: at(0.5), mean: sum / sorted.length, p90: at(0.9), max: sorted[sorted.length - 1], truncated };
}

/**
 * A histogram of review lengths in tokens, one bar trace per split (pre-binned, so the figure
 * stays a few kB however many reviews there are). With maxLength, a dashed line marks where
 * truncation starts; the reviews cut there pile up in the last bin.
 */
export function lengthHistogram(
  splits: Record<string, ArrayLike<number>>,
  options: { binSize?: number; maxLength?: number; title?: string } = {},
): PlotlyFigure {
  const binSize = options.binSize ?? 16;
  let longest = 0;
  for (const lengths of Object.values(splits)) for (let i = 0; i < lengths.length; i++) longest = Math.max(longest, lengths[i]);
  const bins = Math.floor(longest / binSize) + 1;
  const data = Object.entries(splits).map(([name, lengths]) => {
    const counts = new Array<number>(bins).fill(0);
    for (let i = 0; i < lengths.length; i++) counts[Math.floor(lengths[i] / binSize)]++;
    return {
      type: "bar",
      name: `${name} (${lengths.length.toLocaleString("en-US")})`,
      x: counts.map((_, b) => b * binSize + binSize / 2),
      y: counts,
      width: binSize,
      opacity: 0.6,
    };
  });
  const layout: Record<string, unknown> = {
    title: { text: options.title ?? "Review length in tokens" },
    barmode: "overlay",
    xaxis: { title: { text: `tokens per review (bins of ${binSize})` } },
    yaxis: { title: { text: "reviews" } },
  };
  if (options.maxLength !== undefined) {
    const x = options.maxLength;
    layout.shapes = [{ type: "line", x0: x, x1: x, yref: "paper", y0: 0, y1: 1, line: { dash: "dash", width: 1 } }];
    layout.annotations = [{ x, yref: "paper", y: 1, text: `truncated at ${x}`, showarrow: false, xanchor: "right" }];
  }
  return { data, layout };
}
