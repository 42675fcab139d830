import * as childProcess from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import type { AddressInfo } from "net";
import { vocabDir } from "../helpers/assets";
import { listFiles, makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// scripts/data-imdb.ts end to end, as `npm run data:imdb` runs it (through tsx).

const ROOT = path.resolve(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    childProcess.execFile(TSX, ["scripts/data-imdb.ts", ...args], { cwd: ROOT }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

let tmp: string;
let archive: string;
beforeAll(async () => {
  tmp = makeTempDir();
  archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 25 });
});
afterAll(() => removeTempDir(tmp));

test("--source prepares a local archive; a second run is a no-op that says so", async () => {
  const out = path.join(tmp, "out");
  const first = await run(["--source", archive, "--out", out, "--balance-tolerance", "0.5"]);
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/^train: 70 reviews \(\d+ neg, \d+ pos, [\d.]+% pos\)$/m);
  expect(first.stdout).toMatch(/^prepared in [\d.]+ s: /m);
  expect(listFiles(out)).toEqual(["manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]);
  const second = await run(["--source", archive, "--out", out, "--balance-tolerance", "0.5"]);
  expect(second.code).toBe(0);
  expect(second.stdout).toMatch(/already prepared from fake\.tar\.gz with seed 1; nothing to do/);
});

test("bad input exits 1 with the error and no stack trace", async () => {
  const result = await run(["--source", path.join(tmp, "missing.tar.gz"), "--out", path.join(tmp, "never")]);
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(`error: ${path.join(tmp, "missing.tar.gz")}: no such file or folder\n`);
  expect(fs.existsSync(path.join(tmp, "never"))).toBe(false);
});

test("downloads from a server, then prepares", async () => {
  const data = fs.readFileSync(archive);
  const server = http.createServer((_req, res) => res.writeHead(200, { "Content-Length": data.length }).end(data));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/aclImdb_v1.tar.gz`;
  const saved = path.join(tmp, "dl", "aclImdb_v1.tar.gz");
  const out = path.join(tmp, "out-dl");
  const result = await run(["--url", url, "--archive", saved, "--out", out, "--balance-tolerance", "0.5"]);
  await new Promise((resolve) => server.close(resolve));
  expect(result.code).toBe(0);
  expect(fs.readFileSync(saved).equals(data)).toBe(true);
  expect(listFiles(out)).toEqual(["manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]);
});

test("offline, the download fails at once and suggests --source", async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const saved = path.join(tmp, "offline", "aclImdb_v1.tar.gz");
  const result = await run(["--url", `http://127.0.0.1:${port}/aclImdb_v1.tar.gz`, "--archive", saved, "--out", path.join(tmp, "out-offline")]);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^error: cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): no network here\\?\\n`));
  expect(result.stderr).toMatch(/npm run data:imdb -- --source \S+aclImdb_v1\.tar\.gz/);
  expect(fs.existsSync(saved)).toBe(false);
  expect(listFiles(path.join(tmp, "out-offline"))).toEqual([]);
});

test("--tokenizer also fills the token cache", async () => {
  const out = path.join(tmp, "out-tok");
  const args = ["--source", archive, "--out", out, "--balance-tolerance", "0.5", "--tokenizer", await vocabDir(), "--max-length", "64"];
  const first = await run(args);
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/^val: [\d,]+ tokens, tokenized and cached \(bert-wordpiece-uncased:[0-9a-f]{12}, maxLength 64\)$/m);
  expect(listFiles(path.join(out, "tokens"))).toHaveLength(3);
  expect((await run(args)).stdout).toMatch(/^val: [\d,]+ tokens, already cached/m);
});

test("bad flags stop at once, naming the flag and what it accepts; nothing is written", async () => {
  const out = path.join(tmp, "out-flags");
  const cases: [string[], string][] = [
    [["--seed=-1"], '--seed must be an integer from 0 to 9007199254740991, got "-1"'],
    [["--seed", "1.5"], '--seed must be an integer from 0 to 9007199254740991, got "1.5"'],
    [["--balance-tolerance", "2"], '--balance-tolerance must be a number from 0 to 0.5, got "2"'],
    [["--tokenizer", path.join(tmp, "no-vocab"), "--max-length", "1"], '--max-length must be an integer from 2 to 65536, got "1"'],
    [["--max-length", "64"], "--max-length applies to --tokenizer: give the tokenizer's folder too"],
    [["--out", ""], "--out needs a value"],
    [["--url", "ftp://example.com/a.tar.gz"], '--url must be an http:// or https:// address, got "ftp://example.com/a.tar.gz"'],
    [["--tokenizer", path.join(tmp, "no-vocab")], `${path.join(tmp, "no-vocab")}: no tokenizer.json or vocab.txt`],
  ];
  for (const [flags, message] of cases) {
    const result = await run(["--source", archive, "--out", out, ...flags]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: ${message}${message.endsWith("vocab.txt") ? ", so no tokenizer can be built from it" : ""}\n`);
  }
  expect(fs.existsSync(out)).toBe(false);
});

test("--out onto a folder of the user's own splits is refused unless --overwrite (described in --help)", async () => {
  const own = path.join(tmp, "own-splits");
  fs.mkdirSync(own);
  fs.writeFileSync(path.join(own, "train.jsonl"), '{"text":"mine","label":1}\n');
  const refused = await run(["--source", archive, "--out", own, "--balance-tolerance", "0.5"]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`error: ${own}: holds train.jsonl that \`npm run data:imdb\` did not write (no manifest.json beside them)`);
  expect(refused.stderr).toContain("pass --overwrite to replace them");
  expect(fs.readFileSync(path.join(own, "train.jsonl"), "utf8")).toBe('{"text":"mine","label":1}\n');
  const replaced = await run(["--source", archive, "--out", own, "--balance-tolerance", "0.5", "--overwrite"]);
  expect(replaced.code).toBe(0);
  expect(listFiles(own)).toEqual(["manifest.json", "test.jsonl", "train.jsonl", "val.jsonl"]);
  expect((await run(["--help"])).stdout).toMatch(/--overwrite\s+replace train\.jsonl, val\.jsonl, test\.jsonl or manifest\.json in --out/);
});
