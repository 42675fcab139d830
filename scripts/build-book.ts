/**
 * Builds the static HTML book from book.config.json: one page per chapter, readable offline.
 *
 *   tsx scripts/build-book.ts [--config FILE] [--out DIR] [--execute [--timeout SECONDS]]
 *
 * Default config: book.config.json at the repository root; default output: its "outDir"
 * (build/book). The notebooks are rendered as saved, so run them first (scripts/run-notebooks.ts),
 * or pass --execute to run each one on the tslab kernel just before it is rendered. A notebook
 * holding an error output fails the build, naming the chapter, the cell and the error.
 */
import { parseCli } from "./cli";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readBookConfig } from "./book/config";
import { liveName } from "./book/live";
import { BookBuildError, renderBook, type RenderedBook } from "./book/render";

export interface BuildBookOptions {
  configPath: string;
  /** Overrides the config's "outDir". */
  outDir?: string;
  /** Runs a notebook (and saves its outputs) before it is rendered: the hook for `--execute`. */
  execute?: (notebookPath: string) => Promise<void>;
  onWarning?: (message: string) => void;
}

export async function buildBook(options: BuildBookOptions): Promise<RenderedBook> {
  const config = readBookConfig(options.configPath);
  if (options.execute) {
    const notebooks = config.book.chapters.map((c) => c.file).filter((f) => f.endsWith(".ipynb"));
    await runAll(notebooks, config.after, config.parallel, options.execute);
  }
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), "live-assets-"));
  try {
    for (const c of config.book.chapters) {
      if (!c.live || !c.liveAssets) continue;
      const { writeAssets } = (await import(c.liveAssets)) as { writeAssets?: (dir: string) => Promise<void> };
      if (typeof writeAssets !== "function") throw new BookBuildError(`${c.liveAssets}: exports no writeAssets(dir) function`);
      await writeAssets(path.join(staging, liveName(c.live)));
    }
    return renderBook(config.book, { outDir: options.outDir ?? config.outDir, onWarning: options.onWarning, liveAssets: staging });
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Run every notebook, at most `parallel` at once, each after the ones it reads (`after`), in the
 * book's order otherwise. The first failure stops new starts and is thrown once the running ones end.
 */
export async function runAll(notebooks: string[], after: Map<string, string[]>, parallel: number, run: (notebook: string) => Promise<void>): Promise<void> {
  const done = new Set<string>();
  const waiting = [...notebooks];
  let failure: unknown = null;
  let running = 0;
  await new Promise<void>((resolve) => {
    const next = () => {
      while (failure === null && running < parallel) {
        const i = waiting.findIndex((nb) => (after.get(nb) ?? []).every((dep) => done.has(dep) || !notebooks.includes(dep)));
        if (i < 0) break;
        const [nb] = waiting.splice(i, 1);
        running++;
        run(nb).then(
          () => done.add(nb),
          (error: unknown) => (failure ??= error),
        ).finally(() => {
          running--;
          next();
        });
      }
      if (running === 0) resolve();
    };
    next();
  });
  if (failure !== null) throw failure;
  if (waiting.length > 0) throw new Error(`these notebooks wait on each other and never ran: ${waiting.join(", ")}`);
}

const USAGE = "usage: tsx scripts/build-book.ts [--config FILE] [--out DIR] [--execute [--timeout SECONDS]]";

interface CliOptions {
  configPath: string;
  outDir?: string;
  execute: boolean;
  timeoutSeconds: number;
}

export function parseArgs(argv: string[]): CliOptions {
  const { values } = parseCli(argv, { config: { type: "string" }, out: { type: "string" }, execute: { type: "boolean" }, timeout: { type: "string" } }, USAGE);
  const timeoutSeconds = values.timeout === undefined ? 1800 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw new Error(`--timeout wants seconds (0: no limit)\n${USAGE}`);
  return {
    configPath: (values.config as string | undefined) ?? path.resolve(__dirname, "..", "book.config.json"),
    outDir: values.out as string | undefined,
    execute: Boolean(values.execute),
    timeoutSeconds,
  };
}

export async function main(argv: string[]): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  let execute: BuildBookOptions["execute"];
  if (cli.execute) {
    // Loaded only for --execute: a plain build needs no kernel (nor zeromq).
    const { executeNotebook } = await import("./notebook/execute");
    const { PROJECT_ROOT } = await import("./notebook/kernel");
    execute = async (notebook) => {
      console.log(`executing ${path.relative(process.cwd(), notebook)}`);
      // The kernel runs where the one users register runs: at the project's root (notebooks import ./lib).
      try {
        await executeNotebook(notebook, { timeoutMs: cli.timeoutSeconds * 1000, kernelCwd: PROJECT_ROOT });
      } catch (error) {
        // Said at once: the build itself stops only when the notebooks still running end.
        console.error(`failed: ${path.relative(process.cwd(), notebook)}; waiting for the notebooks still running`);
        throw error;
      }
    };
  }
  try {
    const book = await buildBook({ configPath: cli.configPath, outDir: cli.outDir, execute, onWarning: (w) => console.warn(`warning: ${w}`) });
    console.log(`Built ${book.pages.length} pages: open ${path.join(book.outDir, "index.html")}`);
    return 0;
  } catch (err) {
    console.error(err instanceof BookBuildError ? err.message : `the book was not built: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
