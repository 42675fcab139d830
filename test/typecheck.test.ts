import * as childProcess from "child_process";
import * as path from "path";

// lib/, scripts/, tests and benchmarks compile under strict TypeScript (tslab only transpiles).
test("tsc --noEmit passes", () => {
  const root = path.resolve(__dirname, "..");
  const result = childProcess.spawnSync(path.join(root, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", root], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`tsc --noEmit failed:\n${result.stdout}${result.stderr}`);
}, 180_000);
