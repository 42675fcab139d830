// npm run book — the main job: make sure the files the book reads are here (found in the mirror,
// or downloaded; see lib/data/assets.ts), prepare the IMDb splits (once), execute every notebook on
// the tslab kernel (saving the outputs into the .ipynb files), and build the HTML book in
// build/book/. IMDB_SOURCE, when set, names the archive or extracted aclImdb folder to prepare
// IMDb from instead.
import * as childProcess from "child_process";
import * as path from "path";
import { ensureAssets, IMDB_ASSET, vocabAsset } from "../lib/data/assets";
import { readManifest, DEFAULT_IMDB_DIR } from "../lib/data/imdb-files";

const ROOT = path.resolve(__dirname, "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function run(script: string, args: string[]): void {
  const result = childProcess.spawnSync(TSX, [path.join(ROOT, "scripts", script), ...args], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

async function main(): Promise<void> {
  // The archive is needed only until the splits are prepared; the vocabulary, by every chapter.
  const prepared = (await readManifest(DEFAULT_IMDB_DIR)) !== null;
  const source = process.env.IMDB_SOURCE;
  let files: string[];
  try {
    files = await ensureAssets(prepared || source ? [vocabAsset()] : [vocabAsset(), IMDB_ASSET]);
  } catch (error) {
    console.error(`book: ${(error as Error).message}`);
    process.exit(1);
  }
  if (!prepared) {
    const archive = source ?? files[1];
    console.log(`book: preparing IMDb from ${archive}`);
    run("data-imdb.ts", ["--source", archive]);
  }
  run("build-book.ts", ["--execute", ...process.argv.slice(2)]);
}

main();
