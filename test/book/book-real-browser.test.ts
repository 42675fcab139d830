/**
 * The real book (book.config.json, the committed executed notebooks) in headless Chromium: every
 * page loads with no console error or failed request, every Plotly figure is drawn, every link
 * between pages resolves; the live sections train in the page (chapter 00's toy network, the IMDb
 * playground's LoRA fine-tuning, whose downloaded adapter must give the page's logits in Node).
 * Screenshots of the index, the results page and the live sections go to build/screenshots/.
 */
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import type { Browser } from "playwright-core";
import { buildBook } from "../../scripts/build-book";
import { launchChromium } from "../../scripts/book/chromium";
import type { LiveRun } from "../../scripts/book/live/lora-toy";
import { MultilayerPerceptron } from "../../lib/models/mlp";
import { LinearWithLoRA } from "../../lib/lora/lora";
import { printModel } from "../../lib/nn/module";
import { initBackend } from "../../lib/backend";
import type { Linear } from "../../lib/nn/layers";
import * as tf from "@tensorflow/tfjs";
import type { PlaygroundRun } from "../../scripts/book/live/imdb-playground";
import { playgroundModel } from "../../scripts/book/live/imdb-playground-model";
import { DistilBertForSequenceClassification } from "../../lib/models/distilbert";
import { readCheckpointConfig } from "../../lib/models/checkpoint";
import { readSafetensorsDir } from "../../lib/io/safetensors";
import { loadAdapter } from "../../lib/lora/adapter";
import { loadTokenizer } from "../../lib/data/tokenizer";
import { countParameters } from "../../lib/nn/parameters";
import type { Module } from "../../lib/nn/module";
import { useTestBackend, maxAbsDiff } from "../helpers/backend";
import { preparedImdb, vocabDir } from "../helpers/assets";

const ROOT = path.resolve(__dirname, "..", "..");
const SCREENSHOTS = path.join(ROOT, "build", "screenshots");
let site: string;
let pages: string[];
let server: http.Server;
let base: string;
let browser: Browser;

beforeAll(async () => {
  await preparedImdb(); // the playground page carries token ids of prepared reviews
  site = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "real-book-")), "site");
  pages = (await buildBook({ configPath: path.join(ROOT, "book.config.json"), outDir: site })).pages;
  server = http.createServer((req, res) => {
    const file = path.join(site, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    if (!file.startsWith(site) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    const type = { ".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".wasm": "application/wasm" }[path.extname(file)];
    res.writeHead(200, type ? { "content-type": type } : {});
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server.close(resolve));
});

test("every chapter of the book loads cleanly, draws its figures, and links only to pages that exist", async () => {
  const names = pages.map((p) => path.basename(p));
  expect(names).toEqual(expect.arrayContaining(["index.html", "00_lora_layer.html", "05_results.html", "06_adapters.html", "07_pretraining.html"]));
  for (const name of names) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
    page.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
    await page.goto(base + name, { waitUntil: "load" });
    const plots = await page.$$eval(".js-plotly-plot", (divs) => divs.map((d) => d.querySelector(".main-svg") !== null));
    expect(plots.every(Boolean)).toBe(true);
    const links = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href")!).filter((h) => !/^(https?:|mailto:|#)/.test(h)));
    for (const link of links) {
      const target = link.split("#")[0];
      if (!fs.existsSync(path.join(site, target))) problems.push(`${name}: link to ${link}, which does not exist`);
    }
    if (name === "index.html" || name === "05_results.html") {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      const shot = path.join(SCREENSHOTS, `book-${name.replace(".html", "")}.png`);
      await page.screenshot({ path: shot, fullPage: name === "index.html" });
      expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    }
    if (name === "05_results.html") expect(plots.length).toBe(6);
    expect(problems).toEqual([]);
    await page.close();
  }
}, 180_000);

test("chapter 00's live section trains LoRA in the page: the loss falls, the base stays frozen, printModel prints what Node prints", async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(base + "00_lora_layer.html", { waitUntil: "load" });
  await page.fill("section.live input[name='rank']", "2"); // range inputs take fill; the label follows
  await page.dispatchEvent("section.live input[name='rank']", "input");
  expect(await page.textContent("section.live output[name='rank']")).toBe("2");
  await page.click("section.live button[name='train']");
  await page.waitForFunction(() => (window as unknown as { liveLoRA?: unknown }).liveLoRA !== undefined, null, { timeout: 150_000 });
  const run = await page.evaluate(() => (window as unknown as { liveLoRA: LiveRun }).liveLoRA);
  expect(run.rank).toBe(2);
  expect(run.pretrainLosses).toHaveLength(150);
  expect(run.loraLosses).toHaveLength(150);
  expect(run.pretrainLosses[149]).toBeLessThan(run.pretrainLosses[0] / 10);
  expect(run.loraLosses[149]).toBeLessThan(run.loraLosses[0] / 10);
  expect(run.accuracyAfter).toBeGreaterThan(run.accuracyBefore + 0.2);
  expect(run.frozenChanged).toEqual([]);
  expect(run.loraChanged).toEqual(["layers.0.lora.A", "layers.0.lora.B", "layers.2.lora.A", "layers.2.lora.B", "layers.4.lora.A", "layers.4.lora.B"]);
  // The same model built in Node prints the same text, and has the same count: r (in + out) per layer
  await initBackend("cpu", { quiet: true });
  const model = new MultilayerPerceptron(10, 64, 32, 2);
  for (const i of [0, 2, 4]) model.layers[i] = new LinearWithLoRA(model.layers[i] as Linear, 2, 8);
  expect(run.printed).toBe(printModel(model));
  expect(run.trainable).toBe(2 * (10 + 64) + 2 * (64 + 32) + 2 * (32 + 2));
  model.dispose();
  expect(await page.textContent("section.live .live-frozen")).toContain("Frozen weights that changed: none.");
  expect(await page.$$eval("section.live .js-plotly-plot", (divs) => divs.length)).toBe(1);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await (await page.$("section.live"))!.screenshot({ path: path.join(SCREENSHOTS, "book-00-live.png") });
  expect(problems).toEqual([]);
  await page.close();
}, 200_000);

describe("the IMDb playground", () => {
  const REVIEW = "A gentle, funny film with two wonderful performances. I smiled all the way through and would happily watch it again.";
  type Window = { imdbPlayground?: PlaygroundRun };
  const ready = () => {
    const run = (window as unknown as Window).imdbPlayground;
    return run !== undefined && (run.ready || run.error !== null);
  };

  /** The page's model, built in Node from the committed backbone: what the page must agree with. */
  async function nodeModel() {
    await useTestBackend("cpu");
    const dir = path.join(ROOT, "models", "distilbert-mini-imdb");
    const recipe = { rank: 8, alpha: 16, targets: ["q_lin", "v_lin"], learningRate: 0, batchSize: 0, epochs: 0, seed: 0 };
    return playgroundModel(readCheckpointConfig(dir).json, readSafetensorsDir(dir), recipe, dir);
  }
  const logitsOf = (model: Module, ids: number[]) => tf.tidy(() => Array.from(model.forward(tf.tensor2d([ids], [1, ids.length], "int32"), tf.ones([1, ids.length], "int32")).dataSync()));

  test("the extra download is at most 15 MB", () => {
    const live = path.join(site, "assets", "live");
    const files = [path.join(live, "imdb-playground.js"), ...fs.readdirSync(path.join(live, "imdb-playground")).map((f) => path.join(live, "imdb-playground", f))];
    const bytes = files.reduce((sum, file) => sum + fs.statSync(file).size, 0);
    expect(bytes).toBeLessThan(15 * 1024 * 1024);
  });

  test("on WebAssembly it fine-tunes LoRA in the page: the loss falls, validation accuracy rises above chance, the review's prediction moves, and the downloaded adapter gives the page's logits in Node", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 }, acceptDownloads: true });
    const problems: string[] = [];
    page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(base + "08_playground.html?backend=wasm", { waitUntil: "load" });
    await page.waitForFunction(ready, null, { timeout: 120_000 });
    let run = (await page.evaluate(() => (window as unknown as Window).imdbPlayground))!;
    expect(run.error).toBeNull();
    expect(run.backend).toBe("wasm");
    expect(await page.textContent("section.live .live-backend")).toContain("wasm backend");

    // The same model in Node: the same printed tree, the same count, the same logits before training.
    const model = await nodeModel();
    expect(run.printed).toBe(printModel(model));
    expect(run.trainable).toBe(countParameters(model, { trainableOnly: true }));
    expect(run.trainable).toBe(4 * 2 * 8 * (128 + 128) + (128 * 128 + 128) + (128 * 2 + 2)); // LoRA on q, v of 4 blocks, and the head
    const tokenizer = await loadTokenizer(await vocabDir());
    expect(maxAbsDiff(run.exampleLogits, logitsOf(model, tokenizer.encode(REVIEW, { maxLength: 128 })))).toBeLessThan(1e-4);

    await page.fill("section.live textarea[name='review']", REVIEW);
    await page.click("section.live button[name='train']");
    await page.waitForFunction(() => (window as unknown as Window).imdbPlayground!.done || (window as unknown as Window).imdbPlayground!.error !== null, null, { timeout: 1_200_000, polling: 1000 });
    run = (await page.evaluate(() => (window as unknown as Window).imdbPlayground))!;
    expect(run.error).toBeNull();
    expect(run.losses).toHaveLength(125); // 2,000 reviews in batches of 16, one epoch
    expect(run.losses.every(Number.isFinite)).toBe(true);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(run.losses.slice(-25))).toBeLessThan(mean(run.losses.slice(0, 25)));
    expect(run.valAccuracy).toHaveLength(2);
    expect(run.valAccuracy[1]).toBeGreaterThan(0.6); // 200 reviews: chance would be 0.5 +- 0.035
    expect(run.samplesPerSecond).toBeGreaterThan(0);
    expect(run.probe.ids).toEqual(tokenizer.encode(REVIEW, { maxLength: 128 }));
    const positive = (logits: number[]) => 1 / (1 + Math.exp(logits[0] - logits[1]));
    expect(Math.abs(positive(run.probe.logitsAfter) - positive(run.probe.logitsBefore))).toBeGreaterThan(0.05);
    expect(await page.textContent("section.live .live-prediction")).toMatch(/Before fine-tuning: [\d.]+% positive · after: [\d.]+% positive/);

    // "Download adapter": two files in PEFT's format, which loadAdapter puts on the backbone in Node.
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "playground-adapter-"));
    const downloads = new Promise<void>((resolve, reject) => {
      let saved = 0;
      page.on("download", (download) => {
        download.saveAs(path.join(folder, download.suggestedFilename())).then(() => ++saved === 2 && resolve(), reject);
      });
    });
    await page.click("section.live button[name='download']");
    await downloads;
    expect(fs.readdirSync(folder).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    const config = JSON.parse(fs.readFileSync(path.join(folder, "adapter_config.json"), "utf8"));
    // The tutorial's LoRA scales by alpha, PEFT's by lora_alpha / r: alpha 16 at rank 8 is lora_alpha 128.
    expect(config).toMatchObject({ peft_type: "LORA", r: 8, lora_alpha: 128, target_modules: ["q_lin", "v_lin"], modules_to_save: ["classifier", "pre_classifier"], base_model_name_or_path: "models/distilbert-mini-imdb" });
    const loaded = DistilBertForSequenceClassification.fromPretrained(path.join(ROOT, "models", "distilbert-mini-imdb"), { log: () => undefined });
    loadAdapter(loaded, folder);
    loaded.eval();
    expect(maxAbsDiff(logitsOf(loaded, run.probe.ids), run.probe.logitsAfter)).toBeLessThan(1e-4);

    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await (await page.$("section.live"))!.screenshot({ path: path.join(SCREENSHOTS, "book-08-playground.png") });
    expect(problems).toEqual([]);
    for (const m of [model, loaded]) m.dispose();
    await page.close();
  }, 1_500_000);

  test.each(["webgl", "webgpu"])("opened from file://, it starts on %s with the same model: the example's logits agree with Node's to 1e-4", async (backend) => {
    // WebGPU: Chromium's, on SwiftShader (the CPU) where no GPU is present.
    const webgpuBrowser = backend === "webgpu" ? await launchChromium({ webgpu: true }) : null;
    const page = await (webgpuBrowser ?? browser).newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`file://${site}/08_playground.html?backend=${backend}`, { waitUntil: "load" });
    await page.waitForFunction(ready, null, { timeout: 120_000 });
    const run = (await page.evaluate(() => (window as unknown as Window).imdbPlayground))!;
    expect(run.error).toBeNull();
    expect(run.backend).toBe(backend);
    const model = await nodeModel();
    const tokenizer = await loadTokenizer(await vocabDir());
    expect(maxAbsDiff(run.exampleLogits, logitsOf(model, tokenizer.encode(REVIEW, { maxLength: 128 })))).toBeLessThan(1e-4);
    model.dispose();
    expect(problems).toEqual([]);
    await page.close();
    await webgpuBrowser?.close();
  }, 200_000);
});
