// A small progress bar for downloads, tokenizing and training loops, in the spirit of tqdm:
// count/total, percent, rate, elapsed, ETA and a few extra fields (loss, lr) on one line.

/** Where the bar writes: process.stdout, or a fake in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** How many units make 100%; leave out when unknown (no percent, no ETA). */
  total?: number;
  /** Printed first, e.g. "download" or "epoch 1". */
  label?: string;
  /** "B" formats counts as bytes (kB, MB, GB); anything else is printed after the count ("reviews"). */
  unit?: string;
  /** Count already done when the bar starts (a resumed download): shown, but not counted in the rate. */
  initial?: number;
  /** Where to write; default process.stdout. */
  stream?: ProgressStream;
  /**
   * Redraw one line in place with "\r". Default: the stream is a TTY. Jupyter (tslab) renders "\r"
   * too, though its stdout is not a TTY, so notebooks pass `inPlace: true`.
   */
  inPlace?: boolean;
  /** Least milliseconds between two draws: default 100 in place, 5000 otherwise (one line per draw in CI logs). */
  intervalMs?: number;
  /** Clock in milliseconds; tests pass a fake one. */
  now?: () => number;
}

const BAR_WIDTH = 20;

export class Progress {
  readonly total: number | undefined;
  readonly label: string;
  readonly unit: string;
  private readonly initial: number;
  private readonly stream: ProgressStream;
  private readonly inPlace: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly startMs: number;
  private lastDrawMs: number;
  private lastWidth = 0;
  private extra: Record<string, string | number> = {};
  private finished = false;
  count: number;

  constructor(options: ProgressOptions = {}) {
    this.total = options.total;
    this.label = options.label ?? "";
    this.unit = options.unit ?? "it";
    this.initial = options.initial ?? 0;
    this.count = this.initial;
    this.stream = options.stream ?? process.stdout;
    this.inPlace = options.inPlace ?? this.stream.isTTY === true;
    this.intervalMs = options.intervalMs ?? (this.inPlace ? 100 : 5000);
    this.now = options.now ?? (() => performance.now());
    this.startMs = this.now();
    this.lastDrawMs = this.startMs;
  }

  /** Add `n` units done; `extra` fields (e.g. { loss: 0.693 }) replace earlier values of the same name. */
  tick(n = 1, extra?: Record<string, string | number>): void {
    this.count += n;
    if (extra) Object.assign(this.extra, extra);
    if (this.total !== undefined && this.count >= this.total) return; // done() draws the last line
    const t = this.now();
    if (t - this.lastDrawMs >= this.intervalMs) this.draw(t, false);
  }

  /** Draw the final line (always) and end it with a newline. Calling it twice draws once. */
  done(extra?: Record<string, string | number>): void {
    if (this.finished) return;
    if (extra) Object.assign(this.extra, extra);
    this.finished = true;
    this.draw(this.now(), true);
  }

  /** The line as it would be drawn now, without the "\r" or newline. */
  render(nowMs = this.now()): string {
    const seconds = Math.max(0, (nowMs - this.startMs) / 1000);
    const done = this.count - this.initial;
    // Average rate since the start: steadier than the last interval's, and right for an ETA.
    const rate = seconds > 0 ? done / seconds : 0;
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    if (this.total !== undefined && this.total > 0) {
      const fraction = Math.min(1, this.count / this.total);
      const filled = Math.round(fraction * BAR_WIDTH);
      parts.push(`[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`);
      parts.push(`${this.amount(this.count)}/${this.amount(this.total)}`);
      parts.push(`${(fraction * 100).toFixed(1)}%`);
    } else {
      parts.push(this.amount(this.count));
    }
    parts.push(`${this.amount(rate, 1)}/s`);
    parts.push(`elapsed ${formatDuration(seconds)}`);
    if (this.total !== undefined && !this.finished) {
      const left = this.total - this.count;
      parts.push(`eta ${rate > 0 ? formatDuration(left / rate) : "?"}`);
    }
    for (const [key, value] of Object.entries(this.extra)) parts.push(`${key}=${formatValue(value)}`);
    return parts.join("  ");
  }

  private draw(nowMs: number, last: boolean): void {
    this.lastDrawMs = nowMs;
    const line = this.render(nowMs);
    if (this.inPlace) {
      // Pad with spaces so a shorter line fully covers the one before it.
      this.stream.write(`\r${line.padEnd(this.lastWidth)}${last ? "\n" : ""}`);
      this.lastWidth = line.length;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** A count in this bar's unit: "12.3 MB" for bytes, "1,234 reviews" otherwise. */
  private amount(value: number, digits = 0): string {
    if (this.unit === "B") return formatBytes(value);
    const text = digits > 0 && value < 100 ? value.toFixed(digits) : Math.round(value).toLocaleString("en-US");
    return `${text} ${this.unit}`;
  }
}

/** 1234567 → "1.2 MB" (powers of 1000, as download tools print them). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[i]}`;
}

/** Seconds as m:ss, or h:mm:ss from an hour up. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function formatValue(value: string | number): string {
  if (typeof value === "string" || Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 1e-3 && Math.abs(value) < 1e4 ? value.toFixed(4) : value.toExponential(3);
}
