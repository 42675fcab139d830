import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import type { AddressInfo } from "net";
import { Asset, ensureAssets, IMDB_ASSET, locateAsset, locateVocabDir, MIRROR_ENV, mirrorDir, MissingAssetsError, vocabAsset } from "../../lib/data/assets";
import { sha256 } from "../../lib/io/files";
import { readBookConfig } from "../../scripts/book/config";
import { testAssetsReady } from "../../scripts/test";
import { makeTempDir, removeTempDir } from "../helpers/fake-imdb";

// Finding or fetching the files from outside the repository, against a local HTTP server on
// 127.0.0.1 that plays the Hugging Face hub: it serves a small stand-in vocab.txt (size and sha256
// set to match it), counts requests, and can cut its first answer short.

const VOCAB_PATH = "/google-bert/bert-base-uncased/resolve/main/vocab.txt";
const body = Buffer.from(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...Array.from({ length: 2000 }, (_, i) => `word${i}`)].join("\n") + "\n");

let tmp: string;
let server: http.Server;
let base: string;
let closedBase: string;
let cutFirst = false;
let requests: { url: string; range: string | undefined }[] = [];
const quiet = () => undefined;

beforeAll(async () => {
  tmp = makeTempDir("assets-test-");
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? "", range: req.headers.range });
    if (req.url !== VOCAB_PATH) {
      res.writeHead(404).end();
      return;
    }
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { "Content-Length": body.length - start, "Content-Range": `bytes ${start}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { "Content-Length": body.length });
    if (cutFirst && requests.length === 1) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port that was just free: connecting is refused, as it is offline.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  closedBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  removeTempDir(tmp);
});

let n = 0;
beforeEach(() => {
  cutFirst = false;
  requests = [];
});
/** A fresh empty folder under tmp. */
const fresh = (name: string) => fs.mkdtempSync(path.join(tmp, `${name}-${n++}-`));
/** The vocabulary asset as the test server serves it. */
const served = (endpoint = base): Asset => ({ ...vocabAsset(endpoint), bytes: body.length, sha256: sha256(body) });
const write = (file: string, data: string | Buffer) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
};

describe("the vocabulary's address", () => {
  test("is the hub's, or HF_ENDPOINT's", () => {
    const saved = process.env.HF_ENDPOINT;
    try {
      delete process.env.HF_ENDPOINT;
      expect(vocabAsset().url).toBe("https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt");
      process.env.HF_ENDPOINT = "http://hub.example/";
      expect(vocabAsset().url).toBe("http://hub.example/google-bert/bert-base-uncased/resolve/main/vocab.txt");
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
    expect(vocabAsset(base).url).toBe(`${base}${VOCAB_PATH}`);
  });
});

describe("downloads", () => {
  test("what is missing is downloaded into the root, checked, and not fetched again", async () => {
    const root = fresh("root");
    const files = await ensureAssets([served()], { root, mirror: null, progress: false, log: quiet });
    const dest = path.join(root, "models", "bert-base-uncased", "vocab.txt");
    expect(files).toEqual([dest]);
    expect(fs.readFileSync(dest).equals(body)).toBe(true);
    expect(requests).toEqual([{ url: VOCAB_PATH, range: undefined }]);
    expect(locateVocabDir({ root, mirror: null })).toBe(path.dirname(dest));

    expect(await ensureAssets([served()], { root, mirror: null, progress: false, log: quiet })).toEqual([dest]);
    expect(requests).toHaveLength(1);
  });

  test("a connection cut mid-body is resumed with a Range request", async () => {
    cutFirst = true;
    const root = fresh("root");
    const [file] = await ensureAssets([served()], { root, mirror: null, progress: false, log: quiet });
    expect(requests.map((r) => r.range)).toEqual([undefined, `bytes=${Math.floor(body.length / 2)}-`]);
    expect(fs.readFileSync(file).equals(body)).toBe(true);
  });

  test("a served file that is not the expected one is refused", async () => {
    const root = fresh("root");
    const wrong = { ...served(), sha256: "0".repeat(64) };
    await expect(ensureAssets([wrong], { root, mirror: null, progress: false, log: quiet })).rejects.toThrow(/sha256 [0-9a-f]{64}, expected 0{64}/);
    expect(locateAsset(wrong, { root, mirror: null })).toBeNull();
  });
});

describe("the mirror folder", () => {
  test("a copy in the mirror is used where it lies, without a request, in either layout", async () => {
    for (const layout of ["bert-base-uncased/vocab.txt", "models/bert-base-uncased/vocab.txt"]) {
      const root = fresh("root");
      const mirror = fresh("mirror");
      write(path.join(mirror, layout), body);
      expect(await ensureAssets([served()], { root, mirror, progress: false, log: quiet })).toEqual([path.join(mirror, layout)]);
      expect(locateVocabDir({ root, mirror })).toBe(path.dirname(path.join(mirror, layout)));
      expect(fs.existsSync(path.join(root, "models"))).toBe(false);
    }
    expect(requests).toEqual([]);
  });

  test("a mirror's vocab.txt with another sha256 is refused, naming the file", async () => {
    const mirror = fresh("mirror");
    const file = path.join(mirror, "bert-base-uncased", "vocab.txt");
    write(file, "[PAD]\nnot the vocabulary\n");
    const attempt = ensureAssets([served()], { root: fresh("root"), mirror, progress: false, log: quiet });
    await expect(attempt).rejects.toThrow(`${file}: sha256 ${sha256("[PAD]\nnot the vocabulary\n")}, expected ${sha256(body)}`);
    expect(requests).toEqual([]);
  });

  test("the mirror's IMDb archive is taken as it is (a copy of the labelled part differs from the official file)", () => {
    const mirror = fresh("mirror");
    write(path.join(mirror, "datasets", "aclImdb_v1.tar.gz"), "stand-in");
    expect(locateAsset(IMDB_ASSET, { root: fresh("root"), mirror })).toBe(path.join(mirror, "datasets", "aclImdb_v1.tar.gz"));
  });

  describe("mirrorDir", () => {
    let saved: string | undefined;
    beforeEach(() => {
      saved = process.env[MIRROR_ENV];
      delete process.env[MIRROR_ENV];
    });
    afterEach(() => {
      if (saved === undefined) delete process.env[MIRROR_ENV];
      else process.env[MIRROR_ENV] = saved;
    });

    test(`${MIRROR_ENV} first, then book.config.json's "mirror" (relative to the root), else none`, () => {
      const root = fresh("root");
      expect(mirrorDir(root)).toBeNull(); // no book.config.json
      write(path.join(root, "book.config.json"), JSON.stringify({ title: "t" }));
      expect(mirrorDir(root)).toBeNull();
      write(path.join(root, "book.config.json"), JSON.stringify({ title: "t", mirror: "../copies" }));
      expect(mirrorDir(root)).toBe(path.resolve(root, "..", "copies"));
      process.env[MIRROR_ENV] = path.join(tmp, "from-env");
      expect(mirrorDir(root)).toBe(path.join(tmp, "from-env"));
    });

    test("a \"mirror\" that is not a path, or a config that is not JSON, is a clear error", () => {
      const root = fresh("root");
      const config = path.join(root, "book.config.json");
      write(config, JSON.stringify({ mirror: 3 }));
      expect(() => mirrorDir(root)).toThrow(`${config}: "mirror" must be a folder's path, got 3`);
      write(config, "{ mirror: ");
      expect(() => mirrorDir(root)).toThrow(`${config}: not valid JSON`);
    });

    test("the book's own config reader accepts the key", () => {
      const root = fresh("root");
      write(path.join(root, "intro.md"), "# Intro\n");
      write(path.join(root, "book.config.json"), JSON.stringify({ title: "t", mirror: "../copies", chapters: [{ file: "intro.md" }] }));
      expect(readBookConfig(path.join(root, "book.config.json")).book.title).toBe("t");
    });
  });
});

describe("offline, with nothing here", () => {
  const unreachable = () => [{ ...IMDB_ASSET, url: `${closedBase}/aclImdb_v1.tar.gz` }, served(closedBase)];

  test("one error names each missing file, where it comes from and where to put it, within seconds", async () => {
    const root = fresh("root");
    const started = performance.now();
    const error = await ensureAssets(unreachable(), { root, mirror: null, progress: false, log: quiet }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(MissingAssetsError);
    const message = (error as Error).message;
    for (const asset of unreachable()) {
      expect(message).toContain(`${path.basename(asset.dest)}: ${asset.name}`);
      expect(message).toContain(`from ${asset.url}`);
      expect(message).toContain(`put it at ${path.join(root, asset.dest)}, or in a mirror folder as ${asset.mirrorPaths[0]}`);
    }
    expect(message).toContain(`\n      cannot reach ${new URL(closedBase).host} (ECONNREFUSED): no network here?\n`);
    expect(message).toContain(`No mirror folder is set: name one that holds them with ${MIRROR_ENV}=DIR`);
    expect(fs.readdirSync(root)).toEqual([]); // neither a .part file nor the folders made for it
  });

  test("with a mirror that lacks them, the message names the mirror", async () => {
    const mirror = fresh("mirror");
    const options = { root: fresh("root"), progress: false, log: quiet };
    await expect(ensureAssets(unreachable(), { ...options, mirror })).rejects.toThrow(`The mirror folder ${mirror} does not hold them.`);
    await expect(ensureAssets(unreachable(), { ...options, mirror: path.join(mirror, "nowhere") })).rejects.toThrow("nowhere does not exist.");
  });

  test("npm test stops before jest, with the message and a summary line of one failure", async () => {
    const lines: string[] = [];
    const started = performance.now();
    const ready = await testAssetsReady({ root: fresh("root"), mirror: fresh("mirror"), progress: false, log: (line) => lines.push(line) }, unreachable());
    expect(performance.now() - started).toBeLessThan(3000);
    expect(ready).toBe(false);
    const [message, summary] = lines.slice(-2); // after a "downloading ..." line for each
    expect(message).toMatch(/^Files the book needs are missing and could not be downloaded:\n/);
    expect(message).toContain("aclImdb_v1.tar.gz");
    expect(message).toContain("vocab.txt");
    expect(summary).toBe("0 passed, 1 failed");
  });

  test("npm test goes on where the mirror holds them", async () => {
    const mirror = fresh("mirror");
    write(path.join(mirror, "aclImdb_v1.tar.gz"), "stand-in");
    write(path.join(mirror, "bert-base-uncased", "vocab.txt"), body);
    const lines: string[] = [];
    expect(await testAssetsReady({ root: fresh("root"), mirror, log: (line) => lines.push(line) }, unreachable())).toBe(true);
    expect(lines).toEqual([]);
  });
});

test("no code reaches a folder beside the project by a written path: the mirror is the one way", () => {
  const root = path.resolve(__dirname, "..", "..");
  const beside = new RegExp(`["']\\.\\.["'],\\s*["']shared["']|\\.\\./shared/`);
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts") && beside.test(fs.readFileSync(full, "utf8"))) offenders.push(path.relative(root, full));
    }
  };
  for (const dir of ["lib", "scripts", "test"]) walk(path.join(root, dir));
  expect(offenders).toEqual([]);
});
