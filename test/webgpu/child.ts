import { execFileSync } from "child_process";
import * as path from "path";

const ROOT = path.join(__dirname, "..", "..");

/**
 * Run one of this folder's scripts in its own process (the `webgpu` package is an ES module) and
 * return the JSON object its last line prints. A failure or a timeout becomes a plain Error with the
 * script's name and the end of its stderr: the child's own error object refers to itself, which
 * jest's --json report cannot serialise.
 */
export function runChildReport<T>(script: string, timeoutMs: number, args: string[] = []): T {
  let out: string;
  try {
    out = execFileSync(path.join(ROOT, "node_modules/.bin/tsx"), [path.join(__dirname, script), ...args], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  } catch (error) {
    const e = error as { code?: string; signal?: string; status?: number | null; stderr?: string };
    const why = e.code === "ETIMEDOUT" ? `did not finish within ${timeoutMs / 1000} s` : `failed (exit ${e.status ?? e.signal ?? e.code})`;
    throw new Error(`test/webgpu/${script} ${why}${e.stderr ? `; the end of its stderr:\n${String(e.stderr).slice(-2000)}` : ""}`);
  }
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}
