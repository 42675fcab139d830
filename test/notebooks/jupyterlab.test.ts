/**
 * The book in JupyterLab 4, as readers open it: the front end `npm run lab` builds from JupyterLab's
 * npm packages (scripts/lab/), served by Debian's jupyter_server and jupyterlab_server, the tslab
 * kernel registered with scripts/install-kernel.ts, and headless Chromium clicking Run > Run All
 * Cells. Three servers: with the Plotly renderer (jupyterlab-plotly) as readers who installed it
 * have it; without it, where figures fall back to the static image each display message carries;
 * and chapter 05 in a copy of the project without build/results/, as in a fresh clone.
 *
 * Notebooks run on copies in temporary folders, Jupyter's config, data and runtime folders are
 * temporary too (HOME is left alone), and every server and kernel is stopped at the end.
 * Screenshots go to build/screenshots/.
 *
 * Known noise, left out on purpose: JupyterLab's debugger asks each kernel for a debug session and
 * logs "No active debugger session" for every cell on a kernel without one, such as tslab; the
 * debugger extension is disabled through the page config here, as `jupyter labextension disable`
 * does. tslab answers no `history_request` ("unknown msg_type" in the server's log), which only a
 * console or the notebooks' kernel-history setting sends.
 */
import { execFileSync, spawn, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../../scripts/book/chromium";
import { ensureLabBuild, LAB_SERVER, PYTHON, pythonEnv, pythonProblem } from "../../scripts/lab";

const REPO = path.resolve(__dirname, "..", "..");
const SCREENSHOTS = path.join(REPO, "build", "screenshots");
const PLOTLY_MIME = "application/vnd.plotly.v1+json";
/** The plugins of jupyterlab-plotly's renderer package (its plugin ids begin with this). */
const PLOTLY_RENDERER = "@jupyterlab/plotly-extension";
const DEBUGGER = "@jupyterlab/debugger-extension";

interface Lab {
  name: string;
  base: string;
  token: string;
  runtimeDir: string;
  server: ChildProcess;
  log: () => string;
}

let tmp: string;
let browser: Browser | null = null;
const labs: Lab[] = [];

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, log = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; server log:\n${log().slice(-4000)}`);
}

/** Processes whose command line names a folder of this test (kernels started by its servers). */
function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * A JupyterLab server on a free port of 127.0.0.1 serving `root`, with the tslab kernel that
 * `project`'s scripts/install-kernel.ts registers and the given extensions disabled.
 */
async function startLab(name: string, root: string, project: string, disabled: string[]): Promise<Lab> {
  const home = path.join(tmp, name);
  const dirs = { JUPYTER_CONFIG_DIR: path.join(home, "config"), JUPYTER_DATA_DIR: path.join(home, "data"), JUPYTER_RUNTIME_DIR: path.join(home, "runtime") };
  Object.values(dirs).forEach((d) => fs.mkdirSync(d, { recursive: true }));
  const env = { ...pythonEnv(), ...dirs };
  execFileSync("npx", ["tsx", path.join(project, "scripts", "install-kernel.ts"), "--name", "tslab"], { cwd: project, env, stdio: "pipe" });
  // Where `jupyter labextension disable` records what it disables.
  fs.mkdirSync(path.join(dirs.JUPYTER_CONFIG_DIR, "labconfig"));
  const pageConfig = { disabledExtensions: Object.fromEntries(disabled.map((id) => [id, true])) };
  fs.writeFileSync(path.join(dirs.JUPYTER_CONFIG_DIR, "labconfig", "page_config.json"), JSON.stringify(pageConfig));

  const token = crypto.randomBytes(24).toString("hex");
  const port = await freePort();
  const args = [LAB_SERVER, "--no-browser", "--ServerApp.ip=127.0.0.1", `--ServerApp.port=${port}`, "--ServerApp.port_retries=0", `--ServerApp.token=${token}`, `--ServerApp.root_dir=${root}`];
  if (process.getuid?.() === 0) args.push("--allow-root"); // CI containers run as root
  const server = spawn(PYTHON, args, { env, cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  server.stdout!.on("data", (d: Buffer) => (log += d));
  server.stderr!.on("data", (d: Buffer) => (log += d));
  const lab: Lab = { name, base: `http://127.0.0.1:${port}`, token, runtimeDir: dirs.JUPYTER_RUNTIME_DIR, server, log: () => log };
  labs.push(lab);
  await waitFor(`the ${name} server`, async () => {
    if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode}):\n${log}`);
    return (await fetch(`${lab.base}/api/status?token=${token}`)).ok;
  }, 30_000, lab.log);
  return lab;
}

/** Stops a server as File > Shut Down does, then makes sure nothing of it is left running. */
async function stopLab(lab: Lab): Promise<void> {
  if (lab.server.exitCode === null && lab.server.signalCode === null) {
    const exited = new Promise((resolve) => lab.server.once("exit", resolve));
    await fetch(`${lab.base}/api/shutdown?token=${lab.token}`, { method: "POST" }).catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000).unref())]);
    if (lab.server.exitCode === null && lab.server.signalCode === null && lab.server.pid) process.kill(-lab.server.pid, "SIGKILL");
  }
  // Kernels run in sessions of their own: found by the connection files in the runtime folder.
  for (const pid of processesUsing(lab.runtimeDir)) process.kill(pid, "SIGKILL");
}

/** What the reader sees of each code cell once its run is done. */
interface CellView {
  prompt: string;
  outputs: number;
  stderr: string;
  text: string;
}

interface Run {
  page: Page;
  cells: CellView[];
  consoleErrors: string[];
}

/** Opens a notebook in JupyterLab, waits for its kernel, runs all cells from the menu and waits for every cell. */
async function runAll(lab: Lab, notebook: string, expectLast: string, timeoutMs: number): Promise<Run> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
  const consoleErrors: string[] = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(`${lab.base}/lab/tree/${notebook}?token=${lab.token}`, { waitUntil: "load" });
  await page.waitForSelector("body[data-lab-restored]", { state: "attached", timeout: 60_000 });
  const indicator = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator").first();
  // The notebook's kernelspec names "tslab": the kernel registered with install-kernel.ts starts.
  const kernelName = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName").first();
  await waitFor(`${notebook}'s kernel to start`, async () => (await kernelName.textContent()) === "TypeScript (LoRA book)" && (await indicator.getAttribute("data-status")) === "idle", 60_000, lab.log);

  // The run starts from clean outputs, as the notebook's committed outputs would pass for new ones.
  await clickMenu(page, "Edit", "Clear Outputs of All Cells");
  await clickMenu(page, "Run", "Run All Cells");
  const views = (): Promise<CellView[]> =>
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").evaluateAll((cells) =>
      cells.map((cell) => ({
        prompt: cell.querySelector(".jp-InputPrompt")?.textContent?.trim() ?? "",
        outputs: cell.querySelectorAll(".jp-OutputArea-output").length,
        stderr: Array.from(cell.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"], .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')).map((e) => e.textContent).join("\n"),
        text: Array.from(cell.querySelectorAll(".jp-OutputArea-output")).map((e) => e.textContent).join("\n"),
      })),
    );
  // A prompt reads "[*]:" while its cell runs or waits, "[n]:" once done.
  await waitFor(`every cell of ${notebook} to run`, async () => {
    const cells = await views();
    return cells.every((c) => /^\[\d+\]:$/.test(c.prompt)) && cells.some((c) => c.text.includes(expectLast));
  }, timeoutMs, lab.log);
  await waitFor(`${notebook}'s kernel to be idle`, async () => (await indicator.getAttribute("data-status")) === "idle", 30_000, lab.log);
  return { page, cells: await views(), consoleErrors };
}

async function clickMenu(page: Page, menu: string, item: string): Promise<void> {
  await page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", { hasText: new RegExp(`^${menu}$`) }).click();
  await page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel", { hasText: new RegExp(`^${item}$`) }).first().click();
}

/** The committed notebook's code cells: which of them show output after a run, and their figures. */
function committed(notebook: string): { withOutput: boolean[]; figures: Array<{ cell: number; traces: number }> } {
  const nb = JSON.parse(fs.readFileSync(path.join(REPO, "notebooks", notebook), "utf8")) as { cells: Array<{ cell_type: string; outputs?: Array<{ data?: Record<string, unknown> }> }> };
  const code = nb.cells.filter((c) => c.cell_type === "code");
  const figures = code.flatMap((c, cell) =>
    (c.outputs ?? []).flatMap((o) => (o.data?.[PLOTLY_MIME] ? [{ cell, traces: (o.data[PLOTLY_MIME] as { data: unknown[] }).data.length }] : [])),
  );
  return { withOutput: code.map((c) => (c.outputs ?? []).length > 0), figures };
}

/** The figures of each code cell as drawn: Plotly's SVG (with its traces) or a static image. */
async function drawings(page: Page): Promise<Array<{ plotly: number; traces: number; images: number }>> {
  return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").evaluateAll((cells) =>
    cells.map((cell) => {
      const area = cell.querySelector(".jp-OutputArea");
      return {
        plotly: area?.querySelectorAll(".main-svg").length ?? 0,
        traces: area?.querySelectorAll(".main-svg .trace").length ?? 0,
        // A static drawing of the figure: an inline <svg> or an <img>, outside Plotly's own.
        images: area ? Array.from(area.querySelectorAll(".jp-OutputArea-output svg, .jp-OutputArea-output img")).filter((e) => !e.closest(".js-plotly-plot")).length : 0,
      };
    }),
  );
}

/** Console errors that are not the page's: none are expected now that the server answers /api/me and /api/events. */
const unexpected = (errors: string[]) => errors.filter((e) => !/favicon/.test(e));

async function screenshot(page: Page, name: string, cellIndex?: number): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  if (cellIndex !== undefined) {
    const cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(cellIndex);
    await cell.scrollIntoViewIfNeeded();
    await cell.screenshot({ path: path.join(SCREENSHOTS, `${name}-figure.png`) });
  }
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** A copy of the notebooks folder in a fresh temporary folder, so the committed notebooks never change. */
function copyNotebooks(name: string, files: string[]): string {
  const dir = path.join(tmp, name, "notebooks");
  fs.mkdirSync(dir, { recursive: true });
  for (const f of files) fs.copyFileSync(path.join(REPO, "notebooks", f), path.join(dir, f));
  return dir;
}

beforeAll(() => {
  const problem = pythonProblem();
  if (problem) throw new Error(problem);
  ensureLabBuild(); // quick when scripts/setup.sh has built it
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jupyterlab-test-"));
}, 600_000);

afterAll(async () => {
  await browser?.close();
  for (const lab of labs) await stopLab(lab);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}, 60_000);

/** Chapter 00 in a JupyterLab with or without the Plotly renderer. */
async function chapter00(name: string, disabled: string[]): Promise<{ run: Run; figureCell: number; traces: number; drawn: Awaited<ReturnType<typeof drawings>> }> {
  const CHAPTER = "00_lora_layer.ipynb";
  const lab = await startLab(name, copyNotebooks(name, [CHAPTER]), REPO, disabled);
  browser ??= await launchChromium();
  const run = await runAll(lab, CHAPTER, "largest difference after merging", 300_000);
  const { withOutput, figures } = committed(CHAPTER);
  expect(run.cells.map((c) => c.outputs > 0)).toEqual(withOutput);
  expect(run.cells.map((c) => c.stderr).filter(Boolean)).toEqual([]);
  const text = run.cells.map((c) => c.text).join("\n");
  expect(text).toContain("largest difference: 0");
  expect(text).toContain("merged layers: 3");
  expect(figures).toHaveLength(1);
  const [{ cell: figureCell, traces }] = figures;
  await waitFor("the figure to draw", async () => {
    const d = (await drawings(run.page))[figureCell];
    return d.plotly > 0 || d.images > 0;
  }, 30_000, lab.log);
  const drawn = await drawings(run.page);
  await screenshot(run.page, name, figureCell);
  expect(unexpected(run.consoleErrors)).toEqual([]);
  expect(lab.log()).not.toMatch(/No active debugger session|Traceback/);
  await run.page.close();
  await stopLab(lab);
  return { run, figureCell, traces, drawn };
}

test("JupyterLab with the Plotly renderer runs chapter 00 and draws its loss figure with Plotly", async () => {
  const { figureCell, traces, drawn } = await chapter00("lab-plotly", [DEBUGGER]);
  expect(drawn[figureCell].plotly).toBeGreaterThan(0);
  expect(drawn[figureCell].traces).toBe(traces);
  // Nothing is drawn where no figure is.
  expect(drawn.filter((d, i) => i !== figureCell && d.plotly > 0)).toEqual([]);
}, 600_000);

test("JupyterLab without the Plotly renderer runs chapter 00 and still shows its loss figure, as a static image", async () => {
  const { figureCell, drawn } = await chapter00("lab-stock", [DEBUGGER, PLOTLY_RENDERER]);
  expect(drawn[figureCell].plotly).toBe(0);
  expect(drawn[figureCell].images).toBeGreaterThan(0);
}, 600_000);

test("chapter 05 in a fresh clone, without build/results/: its tables and figures show, and say what is missing", async () => {
  // The parts of the project chapter 05 reads, and the kernel's preloads; node_modules is shared.
  const project = path.join(tmp, "fresh");
  for (const part of ["lib", "results", "scripts/notebook", "scripts/install-kernel.ts", "scripts/cli.ts", "book.config.json", "tsconfig.json", "package.json"]) {
    fs.cpSync(path.join(REPO, part), path.join(project, part), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
  fs.mkdirSync(path.join(project, "notebooks"));
  const CHAPTER = "05_results.ipynb";
  fs.copyFileSync(path.join(REPO, "notebooks", CHAPTER), path.join(project, "notebooks", CHAPTER));
  expect(fs.existsSync(path.join(project, "build"))).toBe(false);

  const lab = await startLab("fresh", path.join(project, "notebooks"), project, [DEBUGGER]);
  browser ??= await launchChromium();
  const run = await runAll(lab, CHAPTER, "", 300_000);
  // The kernel ran in the copy: it found no runs of this build.
  const text = run.cells.map((c) => c.text).join("\n");
  expect(text).toMatch(/^0 runs from this build \(quick profile\)/m);
  expect(text).toContain("No runs of the quick profile in build/results/quick/ yet");
  expect(run.cells.map((c) => c.stderr).filter(Boolean)).toEqual([]);
  expect(run.cells.filter((c) => c.outputs === 0).map((_, i) => i)).toEqual([]);
  // Tables render as HTML: the stand-in's, the book's backbone on the GPU, speed, speed on a CPU and
  // memory; the tutorial's table beside each profile's runs gives way to a line saying how to make the runs.
  const tables = await run.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output table").count();
  expect(tables).toBe(5);
  const { figures } = committed(CHAPTER);
  await waitFor("chapter 05's figures to draw", async () => (await drawings(run.page)).filter((d) => d.plotly > 0).length >= figures.length - 1, 30_000, lab.log);
  const drawn = await drawings(run.page);
  const drawnFigures = drawn.flatMap((d, i) => (d.plotly > 0 ? [i] : []));
  // Chapter 05's figures of this build's runs: with none, the first says so instead of drawing.
  expect(drawnFigures.length).toBeGreaterThanOrEqual(figures.length - 1);
  const empty = await run.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").evaluateAll((cells) =>
    cells.flatMap((cell, i) => {
      const plot = cell.querySelector(".js-plotly-plot") as (Element & { data?: Array<{ y?: unknown[] }> }) | null;
      if (!plot?.data) return [];
      const hasData = plot.data.some((t) => (t.y ?? []).some((v) => v !== null && v !== undefined));
      return hasData ? [] : [i];
    }),
  );
  expect(empty).toEqual([]);
  await screenshot(run.page, "lab-fresh-05", drawnFigures[0]);
  expect(unexpected(run.consoleErrors)).toEqual([]);
  await run.page.close();
  await stopLab(lab);
  expect(processesUsing(lab.runtimeDir)).toEqual([]);
}, 600_000);
