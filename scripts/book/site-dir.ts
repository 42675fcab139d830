/**
 * Builds the site in a temporary folder next to the output folder, then swaps it in with renames:
 * a failed build leaves the previous book as it was, and a reader never sees half a book.
 */
import * as fs from "fs";
import * as path from "path";

export function writeSiteAtomically<T>(outDir: string, build: (tmpDir: string) => T): T {
  const target = path.resolve(outDir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  let result: T;
  try {
    result = build(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = `${tmp}.old`;
  if (fs.existsSync(target)) fs.renameSync(target, old);
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fs.existsSync(old)) fs.renameSync(old, target);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  fs.rmSync(old, { recursive: true, force: true });
  return result;
}
