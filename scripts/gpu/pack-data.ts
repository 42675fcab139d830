// Pack what a GPU run reads into a git-ignored folder that can travel (carry) to the GPU machine:
// the IMDb manifest, the token caches brotli-compressed (half their size: what travels is limited
// to 64 MiB, .gpu/ included) and the vocabulary. Never commit the result: it derives from IMDb.
//
//   npx tsx scripts/gpu/pack-data.ts --tokenizer DIR --max-length 512 --splits train,val,test --out .gpu-data/imdb512
//   # then: carry [".gpu", ".gpu-data/imdb512"], and --data .gpu-data/imdb512/imdb --tokenizer .gpu-data/imdb512/vocab
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { parseCli } from "../cli";
import { loadTokenizer } from "../../lib/data/tokenizer";
import { loadTokenizedSplit, tokenCacheFile, COMPRESSED_SUFFIX } from "../../lib/data/token-cache";
import { DEFAULT_IMDB_DIR } from "../../lib/data/imdb-files";
import type { SplitName } from "../../lib/data/types";

const USAGE = "usage: npx tsx scripts/gpu/pack-data.ts --tokenizer DIR --out DIR [--data DIR] [--max-length 512] [--splits train,val,test]";

async function main(): Promise<void> {
  const { values } = parseCli(
    process.argv.slice(2),
    { tokenizer: { type: "string" }, out: { type: "string" }, data: { type: "string" }, "max-length": { type: "string", default: "512" }, splits: { type: "string", default: "train,val,test" } },
    USAGE,
  );
  if (!values.tokenizer || !values.out) throw new Error(USAGE);
  const data = (values.data as string | undefined) ?? DEFAULT_IMDB_DIR;
  const out = path.resolve(values.out as string);
  const maxLength = Number(values["max-length"]);
  const tokenizer = await loadTokenizer(values.tokenizer as string);
  fs.mkdirSync(path.join(out, "imdb", "tokens"), { recursive: true });
  fs.mkdirSync(path.join(out, "vocab"), { recursive: true });
  fs.copyFileSync(path.join(data, "manifest.json"), path.join(out, "imdb", "manifest.json"));
  const vocab = ["vocab.txt", "tokenizer.json", "tokenizer_config.json"].filter((f) => fs.existsSync(path.join(values.tokenizer as string, f)));
  for (const f of vocab) fs.copyFileSync(path.join(values.tokenizer as string, f), path.join(out, "vocab", f));
  let total = 0;
  for (const split of (values.splits as string).split(",") as SplitName[]) {
    await loadTokenizedSplit(split, tokenizer, { dir: data, maxLength }); // makes the cache if missing
    const source = tokenCacheFile(data, split, tokenizer.name, maxLength);
    const target = path.join(out, "imdb", "tokens", path.basename(source) + COMPRESSED_SUFFIX);
    const bytes = fs.readFileSync(source);
    const packed = zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
    fs.writeFileSync(target, packed);
    total += packed.length;
    console.log(`${split}: ${(bytes.length / 2 ** 20).toFixed(1)} MiB -> ${(packed.length / 2 ** 20).toFixed(1)} MiB`);
  }
  console.log(`packed ${out} (token caches ${(total / 2 ** 20).toFixed(1)} MiB, vocabulary ${vocab.join(", ")})`);
}

main().catch((error: Error) => {
  console.error(`pack-data: ${error.message}`);
  process.exit(1);
});
