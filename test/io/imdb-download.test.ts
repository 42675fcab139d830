import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import type { AddressInfo } from "net";
import { downloadFile, UnreachableError } from "../../lib/io/download";
import { sha256 } from "../../lib/io/files";
import { makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// The downloader against a local HTTP server on 127.0.0.1 that serves a fake archive, and can
// cut its first answer short, ignore Range headers, or redirect.

interface ServerOptions {
  /** Send the headers for the whole file but only half the body on the first request, then hang up. */
  cutFirst?: boolean;
  /** Answer every request with 200 and the whole file, as servers without range support do. */
  ignoreRange?: boolean;
}

let tmp: string;
let data: Buffer;
let server: http.Server;
let base: string;
let options: ServerOptions = {};
let requests: { url: string; range: string | undefined }[] = [];

beforeAll(async () => {
  tmp = makeTempDir();
  data = fs.readFileSync(await writeFakeImdbTarGz(path.join(tmp, "served.tar.gz"), { perFolder: 40 }));
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? "", range: req.headers.range });
    if (req.url === "/old/aclImdb_v1.tar.gz") {
      res.writeHead(302, { Location: "/aclImdb_v1.tar.gz" }).end();
      return;
    }
    if (req.url !== "/aclImdb_v1.tar.gz") {
      res.writeHead(404).end();
      return;
    }
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? "");
    if (range && !options.ignoreRange) {
      const start = Number(range[1]);
      res.writeHead(206, { "Content-Length": data.length - start, "Content-Range": `bytes ${start}-${data.length - 1}/${data.length}` });
      res.end(data.subarray(start));
      return;
    }
    res.writeHead(200, { "Content-Length": data.length });
    if (options.cutFirst && requests.length === 1) {
      res.write(data.subarray(0, Math.floor(data.length / 2)), () => res.socket?.destroy());
      return;
    }
    res.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  removeTempDir(tmp);
});

let n = 0;
beforeEach(() => {
  options = {};
  requests = [];
});
const freshDest = () => path.join(tmp, `dl-${n++}`, "aclImdb_v1.tar.gz");
function fetch(dest: string, extra: Partial<Parameters<typeof downloadFile>[0]> = {}) {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  return downloadFile({ url: `${base}/aclImdb_v1.tar.gz`, dest, progress: false, ...extra });
}

test("downloads the whole file, checks size and hash, and draws a progress bar", async () => {
  const dest = freshDest();
  const written: string[] = [];
  const result = await fetch(dest, {
    bytes: data.length,
    sha256: sha256(data),
    progress: { stream: { write: (t: string) => written.push(t), isTTY: false } },
  });
  expect(result).toEqual({ bytes: data.length, cached: false, resumes: 0 });
  expect(fs.readFileSync(dest).equals(data)).toBe(true);
  expect(fs.existsSync(`${dest}.part`)).toBe(false);
  expect(requests).toEqual([{ url: "/aclImdb_v1.tar.gz", range: undefined }]);
  // Non-TTY: no "\r"; the final line shows the total, 100% and the rate.
  const last = written[written.length - 1];
  expect(last).toMatch(new RegExp(`^download  \\[#{20}\\]  (.+)/\\1  100\\.0%  .+/s  elapsed 0:0\\d\\n$`));
});

test("a connection cut short is resumed with a Range request, within the same call", async () => {
  options.cutFirst = true;
  const dest = freshDest();
  const result = await fetch(dest, { bytes: data.length, sha256: sha256(data) });
  expect(result.resumes).toBe(1);
  expect(requests.map((r) => r.range)).toEqual([undefined, `bytes=${Math.floor(data.length / 2)}-`]);
  expect(fs.readFileSync(dest).equals(data)).toBe(true);
});

test("with no retries left the .part file stays, and the next run resumes from it", async () => {
  options.cutFirst = true;
  const dest = freshDest();
  await expect(fetch(dest, { retries: 0 })).rejects.toThrow();
  expect(fs.existsSync(dest)).toBe(false);
  const partial = fs.readFileSync(`${dest}.part`);
  expect(partial.length).toBeGreaterThan(0);
  expect(partial.equals(data.subarray(0, partial.length))).toBe(true);

  const result = await fetch(dest, { bytes: data.length });
  expect(result.resumes).toBe(1);
  expect(requests[1].range).toBe(`bytes=${partial.length}-`);
  expect(fs.readFileSync(dest).equals(data)).toBe(true);
});

test("a server that ignores Range gets the whole file again, written from the start", async () => {
  options.ignoreRange = true;
  const dest = freshDest();
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(`${dest}.part`, data.subarray(0, 1000));
  await fetch(dest, { bytes: data.length, sha256: sha256(data) });
  expect(requests[0].range).toBe("bytes=1000-");
  expect(fs.readFileSync(dest).equals(data)).toBe(true);
});

test("redirects are followed", async () => {
  const dest = freshDest();
  await fetch(dest, { url: `${base}/old/aclImdb_v1.tar.gz` });
  expect(requests.map((r) => r.url)).toEqual(["/old/aclImdb_v1.tar.gz", "/aclImdb_v1.tar.gz"]);
  expect(fs.readFileSync(dest).equals(data)).toBe(true);
});

test("a wrong size or hash fails, and leaves neither the file nor a .part to resume from", async () => {
  const dest = freshDest();
  await expect(fetch(dest, { bytes: data.length + 1 })).rejects.toThrow(`got ${data.length} bytes, expected ${data.length + 1}`);
  await expect(fetch(dest, { sha256: "0".repeat(64) })).rejects.toThrow(/sha256 [0-9a-f]{64}, expected 0{64}/);
  expect(fs.existsSync(dest)).toBe(false);
  expect(fs.existsSync(`${dest}.part`)).toBe(false);
});

test("an HTTP error is reported with its status, and a 404 is not tried again", async () => {
  await expect(fetch(freshDest(), { url: `${base}/missing.tar.gz`, retries: 3 })).rejects.toThrow(/missing\.tar\.gz: HTTP 404 Not Found/);
  expect(requests).toHaveLength(1);
});

test("a file already downloaded is not fetched again", async () => {
  const dest = freshDest();
  await fetch(dest);
  requests = [];
  expect(await fetch(dest)).toEqual({ bytes: data.length, cached: true, resumes: 0 });
  expect(requests).toEqual([]);
});

test("no route to the server fails at once, without retries", async () => {
  // A port that was just free: connecting is refused, as it is offline or behind a dead proxy.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const started = performance.now();
  const attempt = fetch(freshDest(), { url: `http://127.0.0.1:${port}/aclImdb_v1.tar.gz`, retries: 5 });
  await expect(attempt).rejects.toThrow(UnreachableError);
  await expect(attempt).rejects.toThrow(`cannot reach 127.0.0.1:${port} (ECONNREFUSED)`);
  expect(performance.now() - started).toBeLessThan(2000);
});
