import * as path from "path";
import { Asset, ensureAssets, IMDB_ASSET, MissingAssetsError, vocabAsset } from "../../lib/data/assets";

// The files from outside the repository that some tests read, found where lib/data/assets.ts finds
// them: a finished download, or the mirror folder. `npm test` fetches them before any test runs; a
// test run another way without them fails with the message that says where to get them.

async function located(asset: Asset): Promise<string> {
  try {
    const [file] = await ensureAssets([asset], { download: false });
    return file;
  } catch (error) {
    if (!(error instanceof MissingAssetsError)) throw error;
    throw new MissingAssetsError(`${error.message}\n(npm test downloads it before running the tests.)`);
  }
}

/** The folder holding bert-base-uncased's vocab.txt (its sha256 checked where it is the mirror's). */
export async function vocabDir(): Promise<string> {
  return path.dirname(await located(vocabAsset()));
}

/** The IMDb archive: the downloaded official one, or the mirror's copy. */
export function imdbArchive(): Promise<string> {
  return located(IMDB_ASSET);
}

/**
 * The IMDb splits prepared where the book reads them (datasets/cache/imdb), from the archive if they
 * are not there yet, as `npm run data:imdb` prepares them.
 */
export async function preparedImdb(): Promise<string> {
  const { readManifest, DEFAULT_IMDB_DIR } = await import("../../lib/data/imdb-files");
  if (await readManifest(DEFAULT_IMDB_DIR)) return DEFAULT_IMDB_DIR;
  const source = await imdbArchive();
  const { prepareImdb } = await import("../../lib/data/imdb-prepare");
  await prepareImdb({ source, outDir: DEFAULT_IMDB_DIR, log: () => undefined });
  return DEFAULT_IMDB_DIR;
}
