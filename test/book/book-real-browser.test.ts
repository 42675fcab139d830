/**
 * The real book (book.config.json, the committed executed notebooks) in headless Chromium: every
 * page loads with no console error or failed request, every Plotly figure is drawn, every link
 * between pages resolves. Screenshots of the index and the results page go to build/screenshots/.
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

const ROOT = path.resolve(__dirname, "..", "..");
const SCREENSHOTS = path.join(ROOT, "build", "screenshots");
let site: string;
let pages: string[];
let server: http.Server;
let base: string;
let browser: Browser;

beforeAll(async () => {
  site = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "real-book-")), "site");
  pages = (await buildBook({ configPath: path.join(ROOT, "book.config.json"), outDir: site })).pages;
  server = http.createServer((req, res) => {
    const file = path.join(site, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    if (!file.startsWith(site) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    const type = { ".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2" }[path.extname(file)];
    res.writeHead(200, type ? { "content-type": type } : {});
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
}, 120_000);

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
