// `npm test`: the files the tests read (found in the mirror, or downloaded), then every jest test,
// then one line CI reads: "N passed, N failed".
import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Asset, ensureAssets, EnsureOptions, IMDB_ASSET, vocabAsset } from "../lib/data/assets";

const root = path.resolve(__dirname, "..");

/**
 * Find or fetch the files the tests read. Where that fails, print why and a summary line that
 * counts it as one failure, and return false: without those files the tests would only fail one by
 * one, slowly and each less clearly.
 */
export async function testAssetsReady(options: EnsureOptions = {}, assets: Asset[] = [IMDB_ASSET, vocabAsset()]): Promise<boolean> {
  const log = options.log ?? console.log;
  try {
    await ensureAssets(assets, options);
    return true;
  } catch (error) {
    log((error as Error).message);
    log("0 passed, 1 failed");
    return false;
  }
}

async function main(): Promise<number> {
  if (!(await testAssetsReady())) return 1;
  const resultsFile = path.join(root, "build", "test-results.json");
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
  fs.rmSync(resultsFile, { force: true });
  const jest = childProcess.spawnSync(
    path.join(root, "node_modules", ".bin", "jest"),
    ["--json", `--outputFile=${resultsFile}`, ...process.argv.slice(2)],
    { cwd: root, stdio: "inherit" },
  );
  let passed = 0;
  let failed = 0;
  if (fs.existsSync(resultsFile)) {
    const results = JSON.parse(fs.readFileSync(resultsFile, "utf8")) as { numPassedTests: number; numFailedTests: number; numRuntimeErrorTestSuites: number };
    passed = results.numPassedTests;
    failed = results.numFailedTests + results.numRuntimeErrorTestSuites; // a suite that cannot even load counts as a failure
  } else {
    failed = 1;
  }
  console.log(`${passed} passed, ${failed} failed`);
  return jest.status === 0 && failed === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
