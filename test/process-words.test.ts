import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";

// The repository speaks to its readers, who know nothing of how it was built: no file refers to
// a working session, a numbered run on the GPU machine as a "call", a tracker's issue number, or the
// place that lent the machine. History-style notes say what changed and what it measured, and name
// the job script (scripts/gpu/jobs/) or the commit instead. A label quoted as data, such as a result
// file's key 'call 2', is left alone.

const ROOT = path.resolve(__dirname, "..");

/** Binary or generated files that are not prose. */
const SKIPPED = /(^|\/)package-lock\.json$|\.(safetensors|png|jpe?g|gif|ico|gz|br|xz|bin|zip|woff2?|pdf)$/i;

/** Each pattern names what it catches; all are case-insensitive and applied line by line. */
export const PATTERNS: { name: string; re: RegExp }[] = [
  { name: "a numbered session", re: /\bsessions?\s+\d+/gi },
  { name: "a session as a sitting", re: /\b(?:this|that|the|each|next|previous|same|earlier|later|first|last|one)\s+session(?:'s)?\b(?![\s.]*(?:id|key|file|token)\b)/gi },
  { name: "a numbered GPU call", re: /\bGPU\s+calls?\s+\d+/gi },
  { name: "a numbered call on a line about the GPU", re: /(?<!['"\\])\bcalls?\s+\d+\b(?=.*\b(?:GPU|H100|H200)\b)/gi },
  { name: "a call's result or a range of calls", re: /(?<!['"\\])\bcalls?\s+\d+(?:'s\b|\s*(?:-|–|and)\s*\d+\b)/gi },
  { name: "a call referred to by number", re: /\b(?:in|of|from|since|before|after|than)\s+calls?\s+\d+\b/gi },
  { name: "a call as a heading", re: /(?:^|[(.;#]\s*)calls?\s+\d+\s*[:,)]/gi },
  { name: "an issue number", re: /\bissues?\s*(?:#\s*)?\d+|\(issue:/gi },
  { name: "the workplace", re: /\bworkplace\b/gi },
  { name: "a sitting", re: /\b(?:this|that|the|each|next|previous|same|one)\s+sittings?\b/gi },
  { name: "the machine's time budget", re: /\b(?:GPU|device)\s+time\s+(?:was\s+|is\s+)?left\b|\bdevice\s+time\b/gi },
];

export interface Hit {
  file: string;
  line: number;
  pattern: string;
  text: string;
}

/** Every match of PATTERNS in `text`, with about 40 characters of context either side. */
export function findProcessWords(file: string, text: string): Hit[] {
  const hits: Hit[] = [];
  text.split("\n").forEach((line, i) => {
    for (const { name, re } of PATTERNS) {
      re.lastIndex = 0;
      for (const m of line.matchAll(re)) {
        const start = Math.max(0, m.index! - 40);
        const end = Math.min(line.length, m.index! + m[0].length + 40);
        hits.push({ file, line: i + 1, pattern: name, text: line.slice(start, end).trim() });
      }
    }
  });
  return hits;
}

function trackedFiles(): string[] {
  const out = childProcess.execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  return out.split("\0").filter((f) => f && !SKIPPED.test(f) && f !== "test/process-words.test.ts");
}

function readText(file: string): string | null {
  const full = path.join(ROOT, file);
  if (!fs.existsSync(full) || !fs.statSync(full).isFile()) return null;
  const bytes = fs.readFileSync(full);
  if (bytes.subarray(0, 8000).includes(0)) return null; // binary
  return bytes.toString("utf8");
}

describe("the patterns", () => {
  const caught = (s: string) => findProcessWords("x", s).length > 0;

  test.each([
    "in session 13 the profile showed",
    "Sessions 4 and 5 measured",
    "the session's final code",
    "session 15, GPU call 4 (the default)",
    "the sweep of GPU call 4",
    "call 5's 327.2-328.0 ran on a host that queued faster",
    "(call 2: the checks' cost was all in our matmul kernels)",
    "171-172 in calls 3 and 5",
    "GPU calls 1-2: Dawn's toggles",
    "# Call 4, that code against d047a31",
    "the H200 in call 7",
    "(issue 7): the vec4 kernel",
    "tslab issue #19",
    "The H200 machine lent by this workplace",
    "no device time was left to time it",
  ])("catches %p", (s) => expect(caught(s)).toBe(true));

  test.each([
    "a function call costs 24 us",
    "the scheduler calls 3 kernels a step",
    "tf.tidy calls f and disposes what it made",
    "expect(fn).toHaveBeenCalledTimes(2); call(2)",
    "each call returns the next uint32",
    "ms per call, best of five",
    "the CPU time of a step on the H200 (12 calls per dispatch)",
    "in profile_ms, 'call 3' is the profile before the change on the H200",
    '"call 2": [',
    "call5_steps_lora_qv_r8 and call6 on the GPU",
    "Jupyter starts kernels in their own session",
    "private readonly session = randomUUID();",
    "the session id of the kernel",
    "https://github.com/yunabe/tslab/issues/19",
  ])("leaves %p alone", (s) => expect(findProcessWords("x", s)).toEqual([]));
});

test("no tracked file speaks of sessions, numbered calls, issue numbers or the workplace", () => {
  const hits: Hit[] = [];
  for (const file of trackedFiles()) {
    const text = readText(file);
    if (text != null) hits.push(...findProcessWords(file, text));
  }
  const report = hits.map((h) => `${h.file}:${h.line}: ${h.pattern}: ${h.text}`).join("\n");
  if (hits.length > 0) throw new Error(`${hits.length} line(s) refer to how the project was built:\n${report}`);
}, 60_000);
