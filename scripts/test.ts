// `npm test`: every jest test, then one line CI reads: "N passed, N failed".
import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");
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
process.exit(jest.status === 0 && failed === 0 ? 0 : 1);
