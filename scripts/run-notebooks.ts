/**
 * Executes notebooks on the tslab kernel and saves their outputs, with no Python or Jupyter.
 *
 *   tsx scripts/run-notebooks.ts [notebooks...] [--in-place | --out DIR] [--timeout SECONDS] [--keep-going]
 *
 * Without notebooks: every notebooks/*.ipynb, in name order. Default --in-place; --out DIR writes
 * DIR/<name>.ipynb instead (the kernel still runs in the notebook's own folder, so imports of
 * ../lib resolve). --timeout limits each cell (default 1800 s; 0: no limit). Stops at the first
 * failed notebook unless --keep-going. Exit code 1 if any notebook failed.
 */
import { parseCli } from "./cli";
import * as fs from "fs";
import * as path from "path";
import { executeNotebook, NotebookExecutionError, type ExecutedCell } from "./notebook/execute";
import { PROJECT_ROOT } from "./notebook/kernel";

interface CliOptions {
  notebooks: string[];
  outDir: string | null;
  timeoutSeconds: number;
  keepGoing: boolean;
}

const USAGE =
  "usage: tsx scripts/run-notebooks.ts [notebooks...] [--in-place | --out DIR] [--timeout SECONDS] [--keep-going]";

export function parseArgs(argv: string[]): CliOptions {
  const { values, positionals } = parseCli(
    argv,
    { "in-place": { type: "boolean" }, out: { type: "string" }, timeout: { type: "string" }, "keep-going": { type: "boolean" } },
    USAGE,
    true,
  );
  const timeoutSeconds = values.timeout === undefined ? 1800 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw new Error(`--timeout wants seconds (0: no limit)\n${USAGE}`);
  if (values["in-place"] && values.out !== undefined) throw new Error(`--in-place and --out exclude each other\n${USAGE}`);
  return { notebooks: positionals, outDir: (values.out as string | undefined) ?? null, timeoutSeconds, keepGoing: Boolean(values["keep-going"]) };
}

/** notebooks/*.ipynb of the repository, in name order. */
function defaultNotebooks(): string[] {
  const dir = path.resolve(__dirname, "..", "notebooks");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Relative to the current directory when inside it, else absolute. */
function shortPath(p: string): string {
  const abs = path.resolve(p);
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : abs;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export async function main(argv: string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const notebooks = options.notebooks.length > 0 ? options.notebooks : defaultNotebooks();
  if (notebooks.length === 0) {
    console.error("no notebooks to run (notebooks/*.ipynb is empty)");
    return 1;
  }
  const failures: string[] = [];
  for (const [n, notebook] of notebooks.entries()) {
    const shown = shortPath(notebook);
    const outPath = options.outDir ? path.join(options.outDir, path.basename(notebook)) : notebook;
    console.log(`[${n + 1}/${notebooks.length}] ${shown}`);
    const onCell = (cell: ExecutedCell) => {
      const mark = cell.status === "ok" ? " " : "!";
      console.log(`  ${mark} cell ${String(cell.index).padStart(3)}  In [${cell.executionCount}]  ${seconds(cell.durationMs).padStart(8)}  ${cell.firstLine}`);
    };
    try {
      const result = await executeNotebook(notebook, {
        timeoutMs: options.timeoutSeconds * 1000,
        // As the kernel users register (scripts/install-kernel.ts): at the project's root.
        kernelCwd: PROJECT_ROOT,
        outPath,
        onCell,
      });
      console.log(`  done: ${result.cells.length} cells in ${seconds(result.durationMs)} -> ${shortPath(outPath)}`);
    } catch (err) {
      const message = err instanceof NotebookExecutionError ? err.message : `${shown}: ${(err as Error).stack ?? err}`;
      console.error(`\n${message}\n`);
      failures.push(shown);
      if (!options.keepGoing) break;
    }
  }
  if (failures.length > 0) {
    console.error(`${failures.length} notebook(s) failed: ${failures.join(", ")}`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
