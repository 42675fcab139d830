import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

// Small file helpers: a file is either whole or absent, never half-written; errors name the file.

/**
 * Write `data` to `file` atomically: into a temp file beside it, flushed, then renamed over it.
 * A crash leaves the old file or the new one, plus at most a stray "*.tmp-<pid>-<random>" that
 * nothing reads. The temp name is unique per write, so processes on several machines sharing a
 * folder never write into one another's temp file.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
  const handle = await fs.promises.open(temp, "w");
  try {
    const parts = typeof data === "string" || data instanceof Uint8Array ? [data] : data;
    for (const part of parts) await handle.writeFile(part); // writes all of it, from the current position
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.promises.rename(temp, file);
  } catch (error) {
    // A folder (or anything else that cannot be replaced) at `file`: leave no temp file behind.
    await fs.promises.rm(temp, { force: true });
    throw new Error(`${file}: cannot write it (${(error as Error).message})`);
  }
}

/** A path as a reader of a log reads it: relative to the working folder when inside it, else as given. */
export function displayPath(p: string): string {
  const relative = path.relative(process.cwd(), p);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : p;
}

/** Hex sha256 of bytes or a string (as UTF-8). */
export function sha256(data: string | Uint8Array): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

/** Hex sha256 and size of a file, streamed so an 84 MB archive needs no 84 MB buffer. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Read and parse a JSON file, with an error that names it. */
export function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`${file}: cannot read it (${(error as Error).message})`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
}
