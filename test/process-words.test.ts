import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";

// The repository speaks to its readers, who know nothing of how it was built: no file refers to a
// sitting of work, a numbered run on the GPU machine, a tracker's number, or the place that lent the
// machine. History-style notes say what changed and what it measured, and name the job script
// (scripts/gpu/jobs/) or the commit instead. The words are spelt in pieces below, so that this file
// does not name what it forbids.

const ROOT = path.resolve(__dirname, "..");
const SESSION = "sess" + "ion";
const CALL = "ca" + "ll";
const ISSUE = "iss" + "ue";
const WORKPLACE = "work" + "place";

/** Binary or generated files that are not prose. */
const SKIPPED = /(^|\/)package-lock\.json$|\.(safetensors|png|jpe?g|gif|ico|gz|br|xz|bin|zip|woff2?|pdf)$/i;

const re = (source: string) => new RegExp(source, "gi");

/** Each pattern names what it catches; all are case-insensitive and applied line by line. */
export const PATTERNS: { name: string; re: RegExp }[] = [
  { name: "a numbered sitting", re: re(String.raw`\b${SESSION}s?\s+\d+`) },
  { name: "a sitting named as such", re: re(String.raw`\b(?:this|that|the|each|next|previous|same|earlier|later|first|last|one)\s+${SESSION}(?:'s)?\b(?![\s.]*(?:id|key|file|token)\b)`) },
  { name: "a numbered GPU run", re: re(String.raw`\bGPU\s+${CALL}s?\s+\d+`) },
  { name: "a numbered run on a line about the GPU", re: re(String.raw`(?<!['"\\])\b${CALL}s?\s+\d+\b(?=.*\b(?:GPU|H100|H200)\b)`) },
  { name: "a run's result or a range of runs", re: re(String.raw`(?<!['"\\])\b${CALL}s?\s+\d+(?:'s\b|\s*(?:-|–|and)\s*\d+\b)`) },
  { name: "a run referred to by number", re: re(String.raw`\b(?:in|of|from|since|before|after|than)\s+${CALL}s?\s+\d+\b`) },
  { name: "a run as a heading", re: re(String.raw`(?:^|[(.;#]\s*)${CALL}s?\s+\d+\s*[:,)]`) },
  { name: "a tracker's number", re: re(String.raw`\b${ISSUE}s?\s*(?:#\s*)?\d+|\(${ISSUE}:`) },
  { name: "the lending place", re: re(String.raw`\b${WORKPLACE}\b`) },
  { name: "a sitting", re: re(String.raw`\b(?:this|that|the|each|next|previous|same|one)\s+sittings?\b`) },
  { name: "the machine's time budget", re: re(String.raw`\b(?:GPU|device)\s+time\s+(?:was\s+|is\s+)?left\b|\bdevice\s+time\b`) },
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
    `in ${SESSION} 13 the profile showed`,
    `${SESSION[0].toUpperCase() + SESSION.slice(1)}s 4 and 5 measured`,
    `the ${SESSION}'s final code`,
    `${SESSION} 15, GPU ${CALL} 4 (the default)`,
    `the sweep of GPU ${CALL} 4`,
    `${CALL} 5's 327.2-328.0 ran on a host that queued faster`,
    `(${CALL} 2: the checks' cost was all in our matmul kernels)`,
    `171-172 in ${CALL}s 3 and 5`,
    `GPU ${CALL}s 1-2: Dawn's toggles`,
    `# ${CALL[0].toUpperCase() + CALL.slice(1)} 4, that code against d047a31`,
    `the H200 in ${CALL} 7`,
    `(${ISSUE} 7): the vec4 kernel`,
    `tslab ${ISSUE} #19`,
    `The H200 machine lent by this ${WORKPLACE}`,
    "no device time was left to time it",
  ])("catches %p", (s) => expect(caught(s)).toBe(true));

  test.each([
    "a function call costs 24 us",
    `the scheduler ${CALL}s 3 kernels a step`,
    "tf.tidy calls f and disposes what it made",
    "expect(fn).toHaveBeenCalledTimes(2); call(2)",
    "each call returns the next uint32",
    "ms per call, best of five",
    "the CPU time of a step on the H200 (12 calls per dispatch)",
    `in profile_ms, '${CALL} 3' is the profile before the change on the H200`,
    `"${CALL} 2": [`,
    `${CALL}5_steps_lora_qv_r8 and ${CALL}6 on the GPU`,
    `Jupyter starts kernels in their own ${SESSION}`,
    `private readonly ${SESSION} = randomUUID();`,
    `the ${SESSION} id of the kernel`,
    `https://github.com/yunabe/tslab/${ISSUE}s/19`,
  ])("leaves %p alone", (s) => expect(findProcessWords("x", s)).toEqual([]));
});

test("no tracked file speaks of how the project was built: sittings, numbered GPU runs, tracker numbers", () => {
  const hits: Hit[] = [];
  for (const file of trackedFiles()) {
    const text = readText(file);
    if (text != null) hits.push(...findProcessWords(file, text));
  }
  const report = hits.map((h) => `${h.file}:${h.line}: ${h.pattern}: ${h.text}`).join("\n");
  if (hits.length > 0) throw new Error(`${hits.length} line(s) refer to how the project was built:\n${report}`);
}, 60_000);
