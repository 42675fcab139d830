import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// Temporary folders for a test file, removed once its tests have run.

const made: string[] = [];

afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder under the system's temporary folder, named from `prefix`; removed after the file's tests. */
export function tempFolder(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
