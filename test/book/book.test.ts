/**
 * The static HTML book, rendered from the hand-written notebooks in test/fixtures/book (no kernel,
 * no browser): math, highlighting, escaping, outputs, navigation, local assets, failing builds.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildBook } from "../../scripts/build-book";
import { readBookConfig } from "../../scripts/book/config";
import { renderOutput } from "../../scripts/book/outputs";
import { introExcerpt, renderBook, BookBuildError } from "../../scripts/book/render";

const FIXTURES = path.join(__dirname, "..", "fixtures", "book");
const CONFIG = path.join(FIXTURES, "book.config.json");

let tmp: string;
let site: string;
const page = (name: string) => fs.readFileSync(path.join(site, name), "utf8");

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "book-test-"));
  site = path.join(tmp, "site");
  const warnings: string[] = [];
  const book = await buildBook({ configPath: CONFIG, outDir: site, onWarning: (w) => warnings.push(w) });
  expect(book.pages).toEqual(["index.html", "01_lora_layer.html", "02_training.html", "03_notes.html"]);
  expect(warnings).toEqual([]);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("math is typeset by KaTeX at build time; dollar amounts stay text", () => {
  const html = page("01_lora_layer.html");
  expect(html).toContain('class="katex"');
  expect(html).toContain('class="katex-display"'); // the $$ ... $$ block
  // The MathML copy keeps the TeX source: W + \Delta W = W + BA was typeset.
  expect(html).toContain("W + \\Delta W = W + BA</annotation>");
  expect(html).toContain("it costs $5 and $10.");
  const notes = page("03_notes.html");
  expect(notes).toContain("escaped dollar: $3 per GPU-hour");
  expect(notes).toContain("r \\ll \\min(d, k)</annotation>");
});

test("code cells are highlighted, with Jupyter's execution-count prompt", () => {
  const html = page("01_lora_layer.html");
  expect(html).toContain('<div class="prompt">[1]:</div><pre><code class="hljs language-typescript"><span class="hljs-keyword">const</span> rank');
  expect(html).toContain('<div class="prompt">[6]:</div>');
  // The empty cell at the end is left out rather than shown as an unrun "[ ]:".
  expect(html).not.toContain("[ ]:");
  // Fenced code in a markdown page is highlighted too.
  expect(page("03_notes.html")).toContain('<code class="hljs language-bash">');
});

test("streams are escaped text; stderr is styled apart", () => {
  const html = page("01_lora_layer.html");
  expect(html).toContain('<pre class="output stream stdout">&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends\n</pre>');
  expect(html).not.toContain("<script>alert(1)");
  expect(html).toContain('<pre class="output stream stderr">warning: tfjs is using the cpu backend\n</pre>');
});

test("rich outputs: HTML inserted, images as data URIs, text/plain as a fallback", () => {
  const html = page("01_lora_layer.html");
  expect(html).toContain('<div class="output html"><table><tr><th>layer</th><th>params</th></tr><tr><td>q_lin</td>');
  expect(html).toMatch(/<img src="data:image\/png;base64,iVBORw0KGgo[A-Za-z0-9+/=]+" alt="a checkered chart">/);
  expect(html).toContain('<img src="data:image/svg+xml;charset=utf-8,%3Csvg');
  expect(html).toContain('<pre class="output text">147456</pre>');
});

test("Plotly figures: a div and an inline script, drawn by the local plotly.min.js", () => {
  const html = page("02_training.html");
  expect(html.match(/<div id="plotly-figure-\d" class="plotly-figure"><\/div><script>Plotly\.newPlot\("plotly-figure-\d"/g)).toHaveLength(2);
  expect(html).toContain('<script src="assets/plotly.min.js"></script>');
  // plotly.js 3+ wants { text } titles; a plain-string title is converted.
  expect(html).toContain('"title":{"text":"Test accuracy (%)"}');
  expect(html).toContain('"yaxis":{"title":{"text":"loss"}}');
  // Pages without figures do not load the 4.8 MB script.
  expect(page("01_lora_layer.html")).not.toContain("plotly.min.js");
  const copied = fs.statSync(path.join(site, "assets", "plotly.min.js")).size;
  expect(copied).toBe(fs.statSync(require.resolve("plotly.js-dist-min/plotly.min.js")).size);
});

test("a figure's JSON cannot end its script early", () => {
  const markdown = { baseDir: FIXTURES, pageFor: () => null, addMedia: (f: string) => f, warn: () => {}, headings: [] };
  const html = renderOutput(
    { output_type: "display_data", metadata: {}, data: { "application/vnd.plotly.v1+json": { data: [], layout: { title: "</script><b>x</b>" } } } },
    { markdown, figures: 0 },
  );
  expect(html.match(/<\/script>/g)).toHaveLength(1);
  expect(html).toContain("\\u003c/script\\u003e\\u003cb\\u003ex");
});

test("no page loads anything from the network", () => {
  for (const name of ["index.html", "01_lora_layer.html", "02_training.html", "03_notes.html"]) {
    const html = page(name);
    expect(html).not.toMatch(/<script[^>]+src="(https?:)?\/\//);
    expect(html).not.toMatch(/<link[^>]+href="(https?:)?\/\//);
    for (const [, ref] of html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)) {
      expect(fs.existsSync(path.join(site, ref))).toBe(true);
    }
  }
  // Every font KaTeX's stylesheet asks for was copied next to it.
  const katexDir = path.join(site, "assets", "katex");
  const css = fs.readFileSync(path.join(katexDir, "katex.min.css"), "utf8");
  const fonts = [...css.matchAll(/url\(([^)]+)\)/g)].map((m) => m[1].replace(/["']/g, ""));
  expect(fonts.length).toBeGreaterThan(50);
  for (const font of fonts) expect(fs.existsSync(path.join(katexDir, font))).toBe(true);
});

test("prev/next links and the sidebar table of contents", () => {
  const link = (html: string, rel: string) => html.match(new RegExp(`rel="${rel}" href="([^"]+)"`))?.[1];
  expect(link(page("index.html"), "prev")).toBeUndefined();
  expect(link(page("index.html"), "next")).toBe("01_lora_layer.html");
  expect(link(page("01_lora_layer.html"), "prev")).toBe("index.html");
  expect(link(page("01_lora_layer.html"), "next")).toBe("02_training.html");
  expect(link(page("02_training.html"), "prev")).toBe("01_lora_layer.html");
  expect(link(page("03_notes.html"), "next")).toBeUndefined();

  const html = page("02_training.html");
  expect(html).toContain('<a href="02_training.html" aria-current="page">Training with LoRA</a>');
  expect(html).toContain('<li><a href="#the-loop">The loop</a></li>');
  expect(html).toContain('<a href="03_notes.html">Reproducing the experiment</a>'); // the config's title
  expect(html).toContain("<title>Training with LoRA · LoRA from Scratch (fixture book)</title>");
});

test("local images are copied into media/", () => {
  expect(page("03_notes.html")).toContain('<img src="media/lora-diagram.svg" alt="The frozen W plus the low-rank product BA">');
  expect(fs.readFileSync(path.join(site, "media", "lora-diagram.svg"))).toEqual(fs.readFileSync(path.join(FIXTURES, "lora-diagram.svg")));
});

test("links between chapters point at their pages", () => {
  const html = page("01_lora_layer.html");
  expect(html).toContain('<a href="02_training.html#the-loop">training</a>');
  expect(html).toContain('<a href="03_notes.html">notes</a>');
  expect(page("02_training.html")).toContain('<a href="01_lora_layer.html">the layer</a>');
});

test("the index page: title, description, the README's opening, the contents", () => {
  const html = page("index.html");
  expect(html).toContain("<h1>LoRA from Scratch (fixture book)</h1>");
  expect(html).toContain('<p class="description">Low-rank adaptation of DistilBERT');
  expect(html).toContain("A small book that exercises every kind of output");
  expect(html).toContain('<a href="02_training.html">Plotly figure</a>');
  expect(html).not.toContain("not part of the index page");
  expect(html).not.toContain("LoRA from Scratch (fixture)</h1>"); // the README's own title
  expect(html).toContain("<code>quick</code> profile");
  expect(html).toContain('<a href="01_lora_layer.html#counting-parameters">Counting parameters</a>');
  expect(html).toContain('<a href="03_notes.html#commands">Commands</a>');
});

test("introExcerpt stops at the first ## heading outside code fences", () => {
  expect(introExcerpt("# Title\n\nHello.\n```\n## not a heading\n```\n## Next\nmore")).toBe("\nHello.\n```\n## not a heading\n```");
});

test("an error output fails the build, naming the chapter, the cell and the error", async () => {
  const outDir = path.join(tmp, "broken-site");
  fs.mkdirSync(outDir);
  fs.writeFileSync(path.join(outDir, "index.html"), "the previous book");
  const book = {
    title: "Broken",
    chapters: [{ file: path.join(FIXTURES, "01_lora_layer.ipynb") }, { file: path.join(FIXTURES, "broken.ipynb") }],
  };
  let error: unknown;
  try {
    renderBook(book, { outDir });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(BookBuildError);
  const message = (error as Error).message;
  expect(message).toMatch(/chapter "A broken chapter" \(.*broken\.ipynb\), cell 3 \(In \[2\]\): TypeError: model\.forward is not a function/);
  // The previous book is left as it was, with no temporary folders beside it.
  expect(fs.readFileSync(path.join(outDir, "index.html"), "utf8")).toBe("the previous book");
  expect(fs.readdirSync(tmp).filter((f) => f.includes(".tmp-"))).toEqual([]);

  // Asked to, the renderer shows the error in a red box instead.
  renderBook(book, { outDir, allowErrors: true });
  const html = fs.readFileSync(path.join(outDir, "broken.html"), "utf8");
  expect(html).toContain('<div class="output error" role="alert"><p class="error-head"><strong>TypeError</strong>: model.forward is not a function</p>');
});

test("build-book's CLI exits 1 with the message", async () => {
  const { main } = await import("../../scripts/build-book");
  const config = path.join(tmp, "broken.config.json");
  fs.writeFileSync(config, JSON.stringify({ title: "B", chapters: [{ file: path.join(FIXTURES, "broken.ipynb") }], outDir: path.join(tmp, "cli-out") }));
  const errors: string[] = [];
  const spy = jest.spyOn(console, "error").mockImplementation((m: string) => void errors.push(m));
  try {
    expect(await main(["--config", config])).toBe(1);
  } finally {
    spy.mockRestore();
  }
  expect(errors.join("\n")).toContain("cell 3 (In [2]): TypeError: model.forward is not a function");
  expect(fs.existsSync(path.join(tmp, "cli-out"))).toBe(false);
});

test("rebuilding replaces the site in one swap", async () => {
  const outDir = path.join(tmp, "rebuilt");
  await buildBook({ configPath: CONFIG, outDir });
  fs.writeFileSync(path.join(outDir, "stale.html"), "left from an old build");
  await buildBook({ configPath: CONFIG, outDir });
  expect(fs.existsSync(path.join(outDir, "stale.html"))).toBe(false);
  expect(fs.existsSync(path.join(outDir, "index.html"))).toBe(true);
  expect(fs.readdirSync(tmp).filter((f) => f.startsWith(".rebuilt"))).toEqual([]);
});

test("the execute hook runs each notebook before it is rendered", async () => {
  const executed: string[] = [];
  await buildBook({ configPath: CONFIG, outDir: path.join(tmp, "executed"), execute: async (nb) => void executed.push(path.basename(nb)) });
  expect(executed).toEqual(["01_lora_layer.ipynb", "02_training.ipynb"]);
});

test("book.config.json: paths relative to it, typos caught", () => {
  const config = readBookConfig(CONFIG);
  expect(config.book.chapters[0].file).toBe(path.join(FIXTURES, "01_lora_layer.ipynb"));
  expect(config.book.intro).toBe(path.join(FIXTURES, "README.md"));
  expect(config.outDir).toBe(path.resolve(FIXTURES, "../../../build/book-fixture"));
  const bad = path.join(tmp, "bad.config.json");
  fs.writeFileSync(bad, JSON.stringify({ title: "T", chapter: [] }));
  expect(() => readBookConfig(bad)).toThrow(/unknown key "chapter"/);
  fs.writeFileSync(bad, JSON.stringify({ title: "T", chapters: [{ file: "x.py" }] }));
  expect(() => readBookConfig(bad)).toThrow(/chapters\[0\]\.file must be an \.ipynb or \.md file/);
  fs.writeFileSync(bad, JSON.stringify({ title: "T", chapters: [{ file: "x.md", live: "live.js" }] }));
  expect(() => readBookConfig(bad)).toThrow(/chapters\[0\]\.live must be a \.ts file/);
  fs.writeFileSync(bad, JSON.stringify({ title: "T", chapters: [{ file: "x.md", live: "nowhere/live.ts" }] }));
  expect(() => readBookConfig(bad)).toThrow(/chapters\[0\]\.live: nowhere\/live\.ts not found/);
  fs.writeFileSync(path.join(tmp, "live.ts"), "");
  fs.writeFileSync(bad, JSON.stringify({ title: "T", chapters: [{ file: "x.md", liveAssets: "live.ts" }] }));
  expect(() => readBookConfig(bad)).toThrow(/chapters\[0\]\.liveAssets needs a "live" entry/);
  fs.writeFileSync(bad, JSON.stringify({ title: "T", chapters: [{ file: "x.md", live: "live.ts", liveAssets: "nowhere/assets.ts" }] }));
  expect(() => readBookConfig(bad)).toThrow(/chapters\[0\]\.liveAssets: nowhere\/assets\.ts not found/);
});

test("a live entry's assets module writes, at build time, the files it fetches into assets/live/NAME/", async () => {
  const dir = fs.mkdtempSync(path.join(tmp, "live-assets-"));
  fs.writeFileSync(path.join(dir, "page.md"), "# Page\n\nText.\n");
  fs.writeFileSync(path.join(dir, "counter.ts"), 'document.querySelector("[data-live=counter]")!.textContent = "1";\n');
  fs.writeFileSync(
    path.join(dir, "counter-assets.ts"),
    'import * as fs from "fs";\nimport * as path from "path";\n' +
      'export async function writeAssets(dir: string): Promise<void> {\n  fs.mkdirSync(dir, { recursive: true });\n  fs.writeFileSync(path.join(dir, "data.json"), "[1, 2, 3]");\n}\n',
  );
  const config = path.join(dir, "book.config.json");
  fs.writeFileSync(config, JSON.stringify({ title: "A", chapters: [{ file: "page.md", live: "counter.ts", liveAssets: "counter-assets.ts" }] }));
  const out = path.join(dir, "out");
  await buildBook({ configPath: config, outDir: out });
  expect(fs.readFileSync(path.join(out, "assets", "live", "counter", "data.json"), "utf8")).toBe("[1, 2, 3]");
  expect(fs.existsSync(path.join(out, "assets", "live", "counter.js"))).toBe(true);
  fs.writeFileSync(path.join(dir, "no-assets.ts"), "export const nothing = 1;\n");
  fs.writeFileSync(config, JSON.stringify({ title: "A", chapters: [{ file: "page.md", live: "counter.ts", liveAssets: "no-assets.ts" }] }));
  await expect(buildBook({ configPath: config, outDir: out })).rejects.toThrow(/no-assets\.ts: exports no writeAssets\(dir\) function/);
});

test("a chapter's live entry is bundled into assets/live/ and ends its page with a section in the contents", () => {
  const dir = fs.mkdtempSync(path.join(tmp, "live-"));
  const md = path.join(dir, "page.md");
  fs.writeFileSync(md, "# Page\n\nText.\n");
  const entry = path.join(dir, "counter.ts");
  fs.writeFileSync(entry, 'const n: number = [1, 2, 3].length;\ndocument.querySelector("[data-live=counter]")!.textContent = `${n} items`;\n');
  const out = path.join(dir, "out");
  renderBook({ title: "L", chapters: [{ file: md, live: entry }] }, { outDir: out });
  const html = fs.readFileSync(path.join(out, "page.html"), "utf8");
  expect(html).toContain('<h2 id="live">Try it in this page</h2>');
  expect(html).toContain('<div data-live="counter">');
  expect(html).toContain('<script src="assets/live/counter.js"></script>');
  expect(html).toMatch(/href="#live"/); // the page's contents list the section
  const bundle = fs.readFileSync(path.join(out, "assets", "live", "counter.js"), "utf8");
  expect(bundle).not.toContain(": number"); // TypeScript compiled away
  fs.writeFileSync(entry, "import { nothing } from './missing';\nconsole.log(nothing);\n");
  expect(() => renderBook({ title: "L", chapters: [{ file: md, live: entry }] }, { outDir: out })).toThrow(/live section .*counter\.ts: Could not resolve/);
});

test("warnings: a link out of the book, a formula KaTeX cannot typeset", () => {
  const dir = fs.mkdtempSync(path.join(tmp, "warn-"));
  const md = path.join(dir, "page.md");
  fs.writeFileSync(md, "# Page\n\nSee [the lib](../lib/lora.ts) and $\\frac{1}{$.\n");
  const warnings: string[] = [];
  renderBook({ title: "W", chapters: [{ file: md }] }, { outDir: path.join(dir, "out"), onWarning: (w) => warnings.push(w) });
  expect(warnings).toHaveLength(2);
  expect(warnings[0]).toMatch(/page\.md: link to \.\.\/lib\/lora\.ts, which is not a page of the book/);
  expect(warnings[1]).toMatch(/page\.md: cannot typeset \$\\frac\{1\}\{\$/);
});
