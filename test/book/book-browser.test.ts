/**
 * The fixture book in a real browser (Debian's Chromium, headless): every page loads with no
 * console error and no failed or outside request, every Plotly figure is drawn, KaTeX's fonts
 * load, and every navigation link lands on a page that exists. Screenshots go to build/screenshots/.
 */
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { buildBook } from "../../scripts/build-book";
import { launchChromium } from "../../scripts/book/chromium";

const CONFIG = path.join(__dirname, "..", "fixtures", "book", "book.config.json");
const SCREENSHOTS = path.join(__dirname, "..", "..", "build", "screenshots");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
  ".js": "text/javascript",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
};

/** A static file server for `root` on 127.0.0.1 (random port), as any web host would serve the book. */
function serve(root: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = path.join(root, urlPath.endsWith("/") ? urlPath + "index.html" : urlPath);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let tmp: string;
let pages: string[];
let server: http.Server;
let base: string;
let browser: Browser;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "book-browser-"));
  const site = path.join(tmp, "site");
  pages = (await buildBook({ configPath: CONFIG, outDir: site })).pages;
  server = await serve(site);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Opens a page and records everything that went wrong while it loaded. */
async function open(url: string, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) problems.push(`request outside the book: ${r.url()}`);
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, problems };
}

test("every page loads cleanly, draws its figures and math, and links only to pages that exist", async () => {
  const links = new Set<string>();
  let figures = 0;
  for (const name of pages) {
    const { page, problems } = await open(base + name);
    const plots = await page.locator(".plotly-figure").count();
    if (plots > 0) {
      // Drawn: Plotly put its SVG inside every figure's div.
      await page.waitForFunction(() => Array.from(document.querySelectorAll(".plotly-figure")).every((d) => d.querySelector(".main-svg")), null, { timeout: 15000 });
      expect(await page.locator(".plotly-figure.js-plotly-plot .main-svg").count()).toBeGreaterThanOrEqual(plots);
      figures += plots;
    }
    if ((await page.locator(".katex").count()) > 0) {
      // The local KaTeX fonts were found and loaded (a missing font would fall back silently).
      const loaded = await page.evaluate(async () => {
        await document.fonts.ready;
        let katexFonts = 0;
        document.fonts.forEach((f) => void (f.family.replace(/"/g, "").startsWith("KaTeX") && f.status === "loaded" && katexFonts++));
        return katexFonts;
      });
      expect(loaded).toBeGreaterThan(0);
    }
    const hrefs = await page.$$eval(".sidebar a, .topbar a, .pager a, .contents a", (as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(hrefs.length).toBeGreaterThan(pages.length);
    hrefs.forEach((h) => links.add(h));
    expect({ page: name, problems }).toEqual({ page: name, problems: [] });
    await page.close();
  }
  expect(figures).toBe(2);

  // Every link resolves: the page answers 200 and holds the section its #fragment names.
  for (const link of links) {
    const url = new URL(link);
    expect(url.origin + "/").toBe(base);
    const res = await fetch(url.origin + url.pathname);
    expect({ link, status: res.status }).toEqual({ link, status: 200 });
    const html = await res.text();
    if (url.hash) expect({ link, found: html.includes(`id="${decodeURIComponent(url.hash.slice(1))}"`) }).toEqual({ link, found: true });
  }
});

test("screenshots: the index, the page with a Plotly figure, and a chapter on a phone", async () => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const shots: Array<{ file: string; url: string; viewport?: { width: number; height: number }; wait?: string }> = [
    { file: "book-index.png", url: base + "index.html" },
    { file: "book-plotly.png", url: base + "02_training.html", wait: ".plotly-figure .main-svg" },
    { file: "book-phone.png", url: base + "01_lora_layer.html", viewport: { width: 390, height: 844 } },
  ];
  for (const shot of shots) {
    const { page, problems } = await open(shot.url, shot.viewport);
    if (shot.wait) await page.waitForSelector(shot.wait);
    await page.evaluate(() => document.fonts.ready);
    const file = path.join(SCREENSHOTS, shot.file);
    await page.screenshot({ path: file, fullPage: true });
    await page.close();
    expect(problems).toEqual([]);
    const png = fs.readFileSync(file);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.length).toBeGreaterThan(10_000);
  }
});

test("on a phone the table of contents opens from the Contents button", async () => {
  const { page } = await open(base + "01_lora_layer.html", { width: 390, height: 844 });
  expect(await page.locator(".sidebar").isVisible()).toBe(false);
  await page.click(".nav-button");
  expect(await page.locator(".sidebar").isVisible()).toBe(true);
  await page.click('.sidebar a[href="02_training.html"]');
  await page.waitForURL(base + "02_training.html");
  await page.close();
});
