// npm run book — the main job: prepare the data the chapters need (once), execute every notebook
// on the tslab kernel (saving the outputs into the .ipynb files), and build the HTML book in
// build/book/. The IMDb archive comes from IMDB_SOURCE, a local copy beside the project
// (../shared/datasets/aclImdb_v1.tar.gz), or a download.
import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readManifest, DEFAULT_IMDB_DIR } from "../lib/data/imdb-files";

const ROOT = path.resolve(__dirname, "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const SHARED_COPY = path.resolve(ROOT, "..", "shared", "datasets", "aclImdb_v1.tar.gz");

function run(script: string, args: string[]): void {
  const result = childProcess.spawnSync(TSX, [path.join(ROOT, "scripts", script), ...args], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

async function main(): Promise<void> {
  if (!(await readManifest(DEFAULT_IMDB_DIR))) {
    const source = process.env.IMDB_SOURCE ?? (fs.existsSync(SHARED_COPY) ? SHARED_COPY : undefined);
    console.log(`book: preparing IMDb${source ? ` from ${source}` : " (download)"}`);
    run("data-imdb.ts", source ? ["--source", source] : []);
  }
  run("build-book.ts", ["--execute", ...process.argv.slice(2)]);
}

main();
