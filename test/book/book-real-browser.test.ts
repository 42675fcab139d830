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
