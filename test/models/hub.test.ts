import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import * as childProcess from "child_process";
import type { AddressInfo } from "net";
import { downloadFromHub } from "../../lib/models/hub";
import { DistilBertForSequenceClassification } from "../../lib";
import { useTestBackend } from "../helpers/backend";
import { tempFolder } from "../helpers/temp";

// The model download against a stand-in hub on 127.0.0.1 serving the small fixture checkpoint at
// the hub's paths (/REPO/resolve/REVISION/FILE); the first answer for the weights is cut short.

const TINY = path.join(__dirname, "..", "fixtures", "distilbert-tiny");
const FILES = ["config.json", "model.safetensors"];
let server: http.Server;
let endpoint: string;
const requests: string[] = [];
let cutWeightsOnce = true;

beforeAll(async () => {
  await useTestBackend();
  server = http.createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.range ?? ""}`.trim());
    const match = /^\/tiny-distilbert\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const file = match && FILES.includes(match[1]) ? path.join(TINY, match[1]) : null;
    if (!file) return void res.writeHead(404).end("not found");
    const body = fs.readFileSync(file);
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { "Content-Length": body.length - start, "Content-Range": `bytes ${start}-${body.length - 1}/${body.length}` });
      return void res.end(body.subarray(start));
    }
    res.writeHead(200, { "Content-Length": body.length });
    if (file.endsWith(".safetensors") && cutWeightsOnce) {
      cutWeightsOnce = false;
      res.write(body.subarray(0, 1000));
      return void setTimeout(() => res.destroy(), 20);
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("downloads every file at the hub's paths, resumes a cut transfer, and gives a folder fromPretrained reads", async () => {
  const dir = tempFolder("hub-");
  const lines: string[] = [];
  await downloadFromHub({ repo: "tiny-distilbert", dir, files: FILES, endpoint, progress: false, log: (l) => lines.push(l) });
  for (const file of FILES) expect(fs.readFileSync(path.join(dir, file))).toEqual(fs.readFileSync(path.join(TINY, file)));
  expect(requests).toContain("/tiny-distilbert/resolve/main/model.safetensors bytes=1000-");
  expect(lines.join("\n")).toMatch(/model\.safetensors: [\d,]+ bytes \(resumed 1x\)/);
  const model = DistilBertForSequenceClassification.fromPretrained(dir, { log: () => undefined });
  expect(model.config.dim).toBe(32);
  // again: nothing fetched
  const before = requests.length;
  await downloadFromHub({ repo: "tiny-distilbert", dir, files: FILES, endpoint, progress: false, log: () => undefined });
  expect(requests.length).toBe(before);
});

test("a file the hub does not have is a clear error", async () => {
  const dir = tempFolder("hub-");
  await expect(downloadFromHub({ repo: "tiny-distilbert", dir, files: ["tokenizer.json"], endpoint, progress: false, log: () => undefined })).rejects.toThrow(
    `${endpoint}/tiny-distilbert/resolve/main/tokenizer.json: HTTP 404`,
  );
});

test("offline, the command fails at once and says what to do", () => {
  const root = path.resolve(__dirname, "..", "..");
  const started = Date.now();
  const result = childProcess.spawnSync(path.join(root, "node_modules", ".bin", "tsx"), ["scripts/download-model.ts", "--endpoint", "http://hub.invalid", "--out", tempFolder("hub-")], { cwd: root, encoding: "utf8" });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain("cannot reach hub.invalid");
  expect(result.stderr).toContain("The pretrained weights come from the Hugging Face hub, which needs the internet");
  expect(Date.now() - started).toBeLessThan(20_000);
});
