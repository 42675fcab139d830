// npm run data:imdb [-- --source PATH] [--out DIR] [--seed N] [--tokenizer DIR] (--help for all)
// Downloads the IMDb movie review archive (or takes a local copy: --source, or the mirror folder of
// lib/data/assets.ts) and prepares the train/val/test splits of rasbt's LoRA-from-scratch
// experiment. See datasets/README.md.

import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { IMDB_ASSET, locateAsset, MIRROR_ENV } from "../lib/data/assets";
import { downloadFile, UnreachableError } from "../lib/io/download";
import { IMDB_ARCHIVE, IMDB_URL } from "../lib/data/assets";
import { DEFAULT_IMDB_DIR } from "../lib/data/imdb-files";
import { checkPrepareOutDir, prepareImdb } from "../lib/data/imdb-prepare";
import { DEFAULT_BALANCE_TOLERANCE, DEFAULT_SPLIT_SEED } from "../lib/data/imdb-split";
import { loadTokenizedSplit } from "../lib/data/token-cache";
import { loadTokenizer } from "../lib/data/tokenizer";
import { SPLIT_NAMES } from "../lib/data/types";

const ROOT = path.resolve(__dirname, "..");
const DEFAULT_ARCHIVE = path.join(ROOT, IMDB_ASSET.dest);

const USAGE = `Usage: npm run data:imdb -- [options]

Downloads ${IMDB_URL}
(about 84 MB, resumable) and writes train.jsonl, val.jsonl, test.jsonl and manifest.json.
Where the mirror folder (${MIRROR_ENV}, or "mirror" in book.config.json) holds the archive, it is
read from there instead.

  --source PATH   use a local aclImdb_v1.tar.gz or extracted aclImdb folder; no download
  --out DIR       where the splits go (default ${path.relative(process.cwd(), DEFAULT_IMDB_DIR) || "."})
  --seed N        seed of the shuffle into splits (default ${DEFAULT_SPLIT_SEED})
  --force         prepare again even if the folder already matches
  --overwrite     replace train.jsonl, val.jsonl, test.jsonl or manifest.json in --out that this
                  command did not write (without it such a folder is refused before any work)
  --tokenizer DIR also fill the token cache with the tokenizer in DIR (vocab.txt or tokenizer.json),
                  e.g. models/bert-base-uncased
  --max-length N  truncation length for --tokenizer (default 512)
  --url URL       download from another address instead (no size or hash check)
  --archive FILE  where the download goes (default datasets/cache/aclImdb_v1.tar.gz)
  --balance-tolerance X  allowed distance of each split's positive share from 0.5, 0 to 0.5 (default ${DEFAULT_BALANCE_TOLERANCE})
  --help          this text`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      source: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      force: { type: "boolean" },
      overwrite: { type: "boolean" },
      tokenizer: { type: "string" },
      "max-length": { type: "string" },
      url: { type: "string" },
      archive: { type: "string" },
      "balance-tolerance": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  // Every flag is checked here, before any download, read or write.
  for (const [flag, value] of Object.entries(values)) {
    if (typeof value === "string" && value.trim() === "") throw new Error(`--${flag} needs a value`);
  }
  const seed = values.seed === undefined ? DEFAULT_SPLIT_SEED : Number(values.seed);
  if (!(Number.isSafeInteger(seed) && seed >= 0)) throw new Error(`--seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got "${values.seed}"`);
  const tolerance = values["balance-tolerance"] === undefined ? undefined : Number(values["balance-tolerance"]);
  if (tolerance !== undefined && !(tolerance >= 0 && tolerance <= 0.5)) {
    throw new Error(`--balance-tolerance must be a number from 0 to 0.5, got "${values["balance-tolerance"]}"`);
  }
  const maxLength = values["max-length"] === undefined ? 512 : Number(values["max-length"]);
  if (!(Number.isInteger(maxLength) && maxLength >= 2 && maxLength <= 65536)) {
    throw new Error(`--max-length must be an integer from 2 to 65536, got "${values["max-length"]}"`);
  }
  if (values["max-length"] !== undefined && values.tokenizer === undefined) throw new Error("--max-length applies to --tokenizer: give the tokenizer's folder too");
  if (values.url !== undefined && !/^https?:\/\//.test(values.url)) throw new Error(`--url must be an http:// or https:// address, got "${values.url}"`);
  if (values.source !== undefined && !fs.existsSync(values.source)) throw new Error(`${values.source}: no such file or folder`);
  const outDir = path.resolve(values.out ?? DEFAULT_IMDB_DIR);
  await checkPrepareOutDir(outDir, values.overwrite ?? false);
  const tokenizer = values.tokenizer === undefined ? null : await loadTokenizer(values.tokenizer);

  let source = values.source;
  if (source === undefined && values.url === undefined && values.archive === undefined) {
    // The archive an earlier run downloaded, or the mirror's copy.
    const found = locateAsset(IMDB_ASSET);
    if (found) console.log(`archive: ${found}`);
    source = found ?? undefined;
  }
  if (source === undefined) {
    const archive = path.resolve(values.archive ?? DEFAULT_ARCHIVE);
    const official = values.url === undefined;
    console.log(fs.existsSync(archive) ? `archive: ${archive} (already downloaded)` : `downloading to ${archive}`);
    fs.mkdirSync(path.dirname(archive), { recursive: true });
    await downloadFile({
      url: values.url ?? IMDB_URL,
      dest: archive,
      ...(official ? IMDB_ARCHIVE : {}),
    });
    source = archive;
  }

  const started = performance.now();
  const result = await prepareImdb({ source, outDir, seed, force: values.force, overwrite: values.overwrite, balanceTolerance: tolerance });
  if (!result.skipped) {
    console.log(`prepared in ${((performance.now() - started) / 1000).toFixed(1)} s: ${result.outDir}`);
  }
  if (tokenizer) {
    for (const split of SPLIT_NAMES) {
      const { data, cached } = await loadTokenizedSplit(split, tokenizer, { dir: result.outDir, maxLength });
      const what = cached ? "already cached" : "tokenized and cached";
      console.log(`${split}: ${data.ids.length.toLocaleString("en-US")} tokens, ${what} (${tokenizer.name}, maxLength ${maxLength})`);
    }
  }
}

main().catch((error: Error) => {
  console.error(`error: ${error.message}`);
  if (error instanceof UnreachableError) {
    console.error(
      "The download needs the internet. Use a local copy of the archive instead:\n" +
        "  npm run data:imdb -- --source path/to/aclImdb_v1.tar.gz\n" +
        `or name a mirror folder that holds it as aclImdb_v1.tar.gz: ${MIRROR_ENV}=DIR npm run data:imdb`,
    );
  }
  process.exitCode = 1;
});
