/**
 * The book's notebooks in a real Jupyter: Debian's classic notebook server, the tslab kernel
 * registered with the documented command (`npx tsx scripts/install-kernel.ts`), and the notebook UI
 * in headless Chromium running every cell, as a reader would. Everything Jupyter writes goes to
 * temporary folders (HOME is left alone), and the server and its kernel are shut down at the end.
 */
import { execFileSync, spawn, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../../scripts/book/chromium";
import { renderBook } from "../../scripts/book/render";

const JUPYTER_NOTEBOOK = "/usr/bin/jupyter-notebook";
const REPO = path.resolve(__dirname, "..", "..");
const NOTEBOOK = "jupyter-smoke.ipynb";

/** What the notebook UI keeps for a code cell after running it. */
interface CellState {
  prompt: number | string | null;
  outputs: Array<{ output_type: string; name?: string; text?: string; data?: Record<string, unknown> }>;
}

let tmp: string;
let notebookDir: string;
let dirs: { JUPYTER_DATA_DIR: string; JUPYTER_CONFIG_DIR: string; JUPYTER_RUNTIME_DIR: string };
let server: ChildProcess | null = null;
let serverLog = "";
let base: string;
let token: string;
let browser: Browser | null = null;

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function serverExited(): Promise<void> {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null || server.signalCode !== null) resolve();
    else server.once("exit", () => resolve());
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server && server.exitCode !== null) throw new Error(`jupyter-notebook exited (${server.exitCode}) while waiting for ${what}:\n${serverLog}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; server log:\n${serverLog.slice(-4000)}`);
}

/** Processes still running from this test's Jupyter: their command line names our runtime dir. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

beforeAll(async () => {
  if (!fs.existsSync(JUPYTER_NOTEBOOK)) {
    throw new Error(`${JUPYTER_NOTEBOOK} not found: install the classic notebook with \`apt-get install -y jupyter-notebook python3-ipykernel\``);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jupyter-test-"));
  dirs = {
    JUPYTER_DATA_DIR: path.join(tmp, "data"),
    JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
    JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
  };
  Object.values(dirs).forEach((d) => fs.mkdirSync(d));
  // Inside the repository, so the kernel's `require` finds node_modules (tslab, @tensorflow/tfjs).
  fs.mkdirSync(path.join(REPO, "build"), { recursive: true });
  notebookDir = fs.mkdtempSync(path.join(REPO, "build", "jupyter-test-"));
  fs.copyFileSync(path.join(__dirname, "..", "fixtures", "book", NOTEBOOK), path.join(notebookDir, NOTEBOOK));
});

afterAll(async () => {
  await browser?.close();
  // Only when the test failed before its clean shutdown: stop what it started, by process id.
  if (server && server.exitCode === null && server.signalCode === null && server.pid) {
    try {
      process.kill(-server.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await serverExited();
  }
  // Jupyter starts kernels in their own session: a kernel left by a killed server is found by
  // the connection file in our runtime dir.
  if (dirs) {
    for (const line of processesUsing(dirs.JUPYTER_RUNTIME_DIR)) process.kill(Number(line.split(":")[0]), "SIGKILL");
  }
  if (notebookDir) fs.rmSync(notebookDir, { recursive: true, force: true });
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("the tslab kernel runs a notebook in the classic Jupyter notebook UI", async () => {
  // 1. Register the kernel the way the README tells users to.
  const env: NodeJS.ProcessEnv = { ...process.env, ...dirs };
  delete env.PYTHONPATH; // Debian's Jupyter runs on /usr/bin/python3, whatever python3 is on PATH
  delete env.PYTHONHOME;
  execFileSync("npx", ["tsx", "scripts/install-kernel.ts", "--name", "tslab"], { cwd: REPO, env, stdio: "pipe" });
  const spec = JSON.parse(fs.readFileSync(path.join(dirs.JUPYTER_DATA_DIR, "kernels", "tslab", "kernel.json"), "utf8"));
  expect(spec.argv).toContain("{connection_file}");

  // 2. Start the server on a free port, with a random token.
  token = crypto.randomBytes(24).toString("hex");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const args = ["--no-browser", "--ip=127.0.0.1", `--port=${port}`, "--port-retries=0", `--NotebookApp.token=${token}`, `--notebook-dir=${notebookDir}`];
  // The server drops iopub messages past 1000/s (it would cut the 1000-line cell short); lifted
  // so the test sees everything the kernel sends, and that it sends it all without hanging.
  args.push("--NotebookApp.iopub_msg_rate_limit=1000000");
  if (process.getuid?.() === 0) args.push("--allow-root"); // CI containers run as root
  server = spawn(JUPYTER_NOTEBOOK, args, {
    env,
    cwd: notebookDir,
    detached: true, // its own process group, so a failed test can stop it in one go
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout!.on("data", (d: Buffer) => (serverLog += d));
  server.stderr!.on("data", (d: Buffer) => (serverLog += d));
  const api = (p: string, init?: RequestInit) => fetch(`${base}${p}${p.includes("?") ? "&" : "?"}token=${token}`, init);
  await waitFor("the notebook server", async () => (await api("/api/status")).ok, 20_000);

  // Jupyter found our kernelspec (in the temporary data dir), not some other "tslab".
  const specs = (await (await api("/api/kernelspecs")).json()) as { kernelspecs: Record<string, { spec: { argv: string[] } }> };
  expect(specs.kernelspecs.tslab?.spec.argv).toEqual(spec.argv);

  // 3. Open the notebook and run every cell through the page.
  browser = await launchChromium();
  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/notebooks/${NOTEBOOK}?token=${token}`, { waitUntil: "load" });
  const connected = () => page.evaluate(() => {
    const nb = (window as any).Jupyter?.notebook;
    return Boolean(nb?.kernel?.is_connected?.() && nb.kernel.info_reply?.protocol_version);
  });
  await waitFor("the tslab kernel to connect", connected, 30_000);
  expect(await page.evaluate(() => (window as any).Jupyter.notebook.kernel.name)).toBe("tslab");
  await page.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());

  const cells = (): Promise<CellState[]> =>
    page.evaluate(() =>
      (window as any).Jupyter.notebook
        .get_cells()
        .filter((c: any) => c.cell_type === "code")
        .map((c: any) => ({ prompt: c.input_prompt_number ?? null, outputs: c.output_area.outputs })),
    );
  // A cell's prompt turns from "*" to its number when the kernel's reply comes. The UI may show the
  // reply, and even the kernel as idle, before the last of a burst of outputs has arrived: wait
  // for the last cell's final line too.
  await waitFor("every cell to run", async () => (await cells()).every((c) => typeof c.prompt === "number"), 60_000);
  const lastStdout = async () => (await cells()).at(-1)!.outputs.map((o) => o.text ?? "").join("");
  await waitFor("the 1000 lines of the last cell", async () => (await lastStdout()).endsWith("line 999\n"), 20_000);
  const ran = await cells();

  // 4. What the reader sees.
  const stdout = (i: number) => ran[i].outputs.filter((o) => o.name === "stdout").map((o) => o.text).join("");
  expect(ran.map((c) => c.prompt)).toEqual([1, 2, 3, 4, 5]);
  expect(stdout(0)).toBe("hello from tslab\n");
  expect(stdout(1)).toBe("6144\n");
  expect(ran[2].outputs.map((o) => o.output_type)).toEqual(["display_data"]);
  expect(await page.locator("#jupyter-smoke-html").textContent()).toBe("shown as HTML");
  expect(stdout(3)).toBe("sum 6\n");
  expect(stdout(4)).toBe(Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join(""));
  const failures = ran.flatMap((c, i) => c.outputs.filter((o) => o.output_type === "error" || o.name === "stderr").map((o) => ({ cell: i, o })));
  expect(failures).toEqual([]);
  expect(await page.locator(".output_error, .output_stderr").count()).toBe(0);
  // The kernel runs with the send-queue preload the kernelspec adds.
  expect(processesUsing(dirs.JUPYTER_RUNTIME_DIR).join("\n")).toContain("zmq-send-queue.cjs");

  // 5. Saved by Jupyter, the notebook renders as a chapter of the book.
  await page.evaluate(() => (window as any).Jupyter.notebook.save_notebook());
  const saved = path.join(notebookDir, NOTEBOOK);
  await waitFor("the notebook to be saved", async () => fs.readFileSync(saved, "utf8").includes("hello from tslab"), 10_000);
  const book = renderBook({ title: "Smoke", chapters: [{ file: saved }] }, { outDir: path.join(tmp, "site") });
  const chapter = fs.readFileSync(path.join(book.outDir, "jupyter-smoke.html"), "utf8");
  expect(chapter).toContain('<div class="prompt">[5]:</div>');
  expect(chapter).toContain('<pre class="output stream stdout">hello from tslab\n</pre>');
  expect(chapter).toContain('<div class="output html"><b id="jupyter-smoke-html">shown as HTML</b></div>');

  // 5b. Chapter 00 of the book, as a reader opens it: all cells run through the page, no error.
  // (The registered kernel starts at the project's root, so the chapter's "./lib/index" imports
  // resolve wherever the notebook itself sits.)
  await page.close();
  const CHAPTER = "00_lora_layer.ipynb";
  fs.copyFileSync(path.join(__dirname, "..", "..", "notebooks", CHAPTER), path.join(notebookDir, CHAPTER));
  const reader: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await reader.goto(`${base}/notebooks/${CHAPTER}?token=${token}`, { waitUntil: "load" });
  const readerConnected = () => reader.evaluate(() => Boolean((window as any).Jupyter?.notebook?.kernel?.is_connected?.() && (window as any).Jupyter.notebook.kernel.info_reply?.protocol_version));
  await waitFor("chapter 00's kernel to connect", readerConnected, 30_000);
  await reader.evaluate(() => (window as any).Jupyter.notebook.clear_all_output());
  await reader.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());
  const chapterCells = (): Promise<CellState[]> =>
    reader.evaluate(() =>
      (window as any).Jupyter.notebook.get_cells().filter((c: any) => c.cell_type === "code").map((c: any) => ({ prompt: c.input_prompt_number ?? null, outputs: c.output_area.outputs })),
    );
  await waitFor("every cell of chapter 00 to run", async () => (await chapterCells()).every((c) => typeof c.prompt === "number"), 120_000);
  await waitFor("chapter 00's last output", async () => JSON.stringify(await chapterCells()).includes("largest difference after merging"), 20_000);
  const chapterRan = await chapterCells();
  const chapterText = chapterRan.flatMap((c) => c.outputs).map((o) => o.text ?? "").join("");
  expect(chapterRan.flatMap((c) => c.outputs.filter((o) => o.output_type === "error" || o.name === "stderr"))).toEqual([]);
  expect(chapterText).toContain("largest difference: 0\n");
  expect(chapterText).toContain("merged layers: 3");
  // The training-loss figure: one output carrying the Plotly JSON and its SVG. The classic
  // notebook has no Plotly renderer, so it draws the SVG: the figure's two lines, inline.
  const figures = chapterRan.flatMap((c) => c.outputs).filter((o) => o.data?.["application/vnd.plotly.v1+json"] !== undefined);
  expect(figures).toHaveLength(1);
  expect(Object.keys(figures[0].data!).sort()).toEqual(["application/vnd.plotly.v1+json", "image/svg+xml", "text/plain"]);
  const drawn = reader.locator(".output_svg svg");
  expect(await drawn.count()).toBe(1);
  expect(await drawn.locator("polyline.line").count()).toBe(2);
  expect(await drawn.locator("text.title").textContent()).toBe("Training loss");
  const box = await drawn.boundingBox();
  expect(box && box.width > 300 && box.height > 200).toBe(true);

  // Saved, chapter 00 renders in the book with the interactive figure and not the SVG beside it.
  await reader.evaluate(() => (window as any).Jupyter.notebook.save_notebook());
  const savedChapter = path.join(notebookDir, CHAPTER);
  await waitFor("chapter 00 to be saved", async () => fs.readFileSync(savedChapter, "utf8").includes("image/svg+xml"), 10_000);
  const chapterBook = renderBook({ title: "Chapter", chapters: [{ file: savedChapter }] }, { outDir: path.join(tmp, "site-00") });
  const chapterPage = fs.readFileSync(path.join(chapterBook.outDir, CHAPTER.replace(/\.ipynb$/, ".html")), "utf8");
  expect(chapterPage.match(/class="output plotly"/g)).toHaveLength(1);
  expect(chapterPage).not.toContain("data:image/svg+xml");
  await reader.close();

  // 6. Shut down as a user would (File > Close and Halt, then Quit): kernels first, then server.
  const sessions = (await (await api("/api/sessions")).json()) as Array<{ kernel: { id: string } }>;
  expect(sessions).toHaveLength(2);
  for (const session of sessions) expect((await api(`/api/kernels/${session.kernel.id}`, { method: "DELETE" })).status).toBe(204);
  expect((await api("/api/shutdown", { method: "POST" })).ok).toBe(true);
  await Promise.race([serverExited(), new Promise((r) => setTimeout(r, 15_000).unref())]);
  expect(server.exitCode).toBe(0);
  expect(processesUsing(dirs.JUPYTER_RUNTIME_DIR)).toEqual([]);
  expect(processesUsing(notebookDir)).toEqual([]);
});
