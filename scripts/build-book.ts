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
import * as path from "path";
import { readBookConfig } from "./book/config";
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
    for (const chapter of config.book.chapters) {
      if (chapter.file.endsWith(".ipynb")) await options.execute(chapter.file);
    }
  }
  return renderBook(config.book, { outDir: options.outDir ?? config.outDir, onWarning: options.onWarning });
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
      await executeNotebook(notebook, { timeoutMs: cli.timeoutSeconds * 1000, kernelCwd: PROJECT_ROOT });
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
