import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { hashFile } from "./files";
import { Progress } from "../util/progress";

// Download one big file with resume: bytes go to "<dest>.part", a retry or a later run asks for
// the rest with an HTTP Range header, and only a complete file (size and hash checked) is renamed
// to <dest>. So <dest> existing means a whole download.

/** Network errors that mean "no route to the server": retrying will not help, say so at once. */
const UNREACHABLE = new Set(["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN"]);

/** A failure that trying again cannot mend: no route to the server, a wrong file, a 404. */
class FinalError extends Error {}

/** No route to the server: offline, or a name that does not resolve. */
export class UnreachableError extends FinalError {}

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Expected size in bytes: checked before the rename. */
  bytes?: number;
  /** Expected hex sha256: checked before the rename. */
  sha256?: string;
  /** Tries after a cut connection, each resuming where the last stopped (default 3). */
  retries?: number;
  /** Give up on a connection that sends nothing for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Show a progress bar (default true); tests turn it off or pass options for a fake stream. */
  progress?: boolean | { stream: { write(text: string): unknown; isTTY?: boolean }; now?: () => number };
}

export interface DownloadResult {
  bytes: number;
  /** True when the file was already there and nothing was fetched. */
  cached: boolean;
  /** Requests made that started past byte 0. */
  resumes: number;
}

export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const { dest } = options;
  if (fs.existsSync(dest)) return { bytes: fs.statSync(dest).size, cached: true, resumes: 0 };
  const part = `${dest}.part`;
  const retries = options.retries ?? 3;
  let resumes = 0;
  for (let attempt = 0; ; attempt++) {
    const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    if (have > 0) resumes++;
    try {
      const total = await fetchInto(options, part, have);
      await verify(options, part, total);
      await fs.promises.rename(part, dest);
      return { bytes: total, cached: false, resumes };
    } catch (error) {
      if (error instanceof FinalError || attempt >= retries) throw error;
      // A cut or stalled connection: go again, resuming from what the .part file holds.
    }
  }
}

class VerifyError extends FinalError {}

async function verify(options: DownloadOptions, part: string, total: number): Promise<void> {
  const { bytes, sha256 } = await hashFile(part);
  const fail = (why: string) => {
    fs.rmSync(part, { force: true }); // a wrong file is no base to resume from
    throw new VerifyError(`${options.url}: ${why}; removed ${part}, run again to download afresh`);
  };
  if (bytes !== total) fail(`got ${bytes} bytes, the server announced ${total}`);
  if (options.bytes !== undefined && bytes !== options.bytes) fail(`got ${bytes} bytes, expected ${options.bytes}`);
  if (options.sha256 !== undefined && sha256 !== options.sha256) fail(`sha256 ${sha256}, expected ${options.sha256}`);
}

/** One request: append the body to `part` from byte `have`. Resolves the file's full size. */
function fetchInto(options: DownloadOptions, part: string, have: number, url = options.url, redirects = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    let out: fs.WriteStream | null = null;
    let failed = false;
    // Close the .part file before the caller looks at its size to resume; a cut connection
    // reports itself more than once ("aborted", then errors), so act on the first report only.
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      if (out) out.end(() => reject(error));
      else reject(error);
    };
    const client = url.startsWith("https:") ? https : http;
    const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
    const request = client.get(url, { headers }, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location && redirects < 5) {
        response.resume();
        const next = new URL(response.headers.location, url).toString();
        fetchInto(options, part, have, next, redirects + 1).then(resolve, reject);
        return;
      }
      let start = -1;
      let total = -1;
      if (status === 206) {
        // "Content-Range: bytes 1000-84125824/84125825": it must continue exactly where we are.
        const range = /bytes (\d+)-\d+\/(\d+)/.exec(response.headers["content-range"] ?? "");
        if (range && Number(range[1]) === have) [start, total] = [have, Number(range[2])];
      } else if (status === 200) {
        start = 0; // the server ignored Range (or we asked for none): take the whole body
        total = Number(response.headers["content-length"] ?? -1);
      } else if (status === 416 && options.bytes !== undefined && have === options.bytes) {
        response.resume();
        resolve(have); // the .part already holds everything
        return;
      } else {
        response.resume();
        if (status === 416) fs.rmSync(part, { force: true });
        const message = `${url}: HTTP ${status} ${response.statusMessage ?? ""}`.trim();
        reject(status >= 500 ? new Error(message) : new FinalError(message)); // a server error may pass
        return;
      }
      if (start < 0) {
        response.resume();
        fs.rmSync(part, { force: true });
        reject(new Error(`${url}: the server answered a different range than asked; starting over`));
        return;
      }
      out = fs.createWriteStream(part, { flags: start === 0 ? "w" : "a" });
      const bar = makeBar(options, total > 0 ? total : undefined, start);
      response.on("data", (chunk: Buffer) => bar?.tick(chunk.length));
      response.pipe(out);
      // A body cut short: Node 20 emits "aborted" and an "aborted" error on the response.
      response.on("aborted", () => fail(new Error(`${url}: connection cut`)));
      response.on("error", fail);
      out.on("error", fail);
      out.on("finish", () => {
        if (!response.complete) return; // cut short: fail() rejects
        bar?.done();
        resolve(total > 0 ? total : fs.statSync(part).size);
      });
    });
    request.setTimeout(options.idleTimeoutMs ?? 30_000, () => request.destroy(new Error(`${url}: no data for a while`)));
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code && UNREACHABLE.has(error.code)) {
        fail(new UnreachableError(`cannot reach ${new URL(url).host} (${error.code}): no network here?`));
      } else {
        fail(error);
      }
    });
  });
}

function makeBar(options: DownloadOptions, total: number | undefined, initial: number): Progress | null {
  if (options.progress === false) return null;
  const custom = typeof options.progress === "object" ? options.progress : {};
  return new Progress({ total, initial, label: "download", unit: "B", ...custom });
}
