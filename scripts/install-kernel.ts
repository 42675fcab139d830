/**
 * Registers the tslab kernel with your own Jupyter / JupyterLab, with the fix for tslab's hang on
 * large outputs preloaded (scripts/notebook/zmq-send-queue.cjs). No Python is needed to install.
 *
 *   tsx scripts/install-kernel.ts [--name NAME] [--display-name TEXT] [--prefix DIR]
 *
 * Writes <kernels dir>/<NAME>/kernel.json (NAME defaults to "tslab", so the book's notebooks,
 * whose kernelspec name is "tslab", open with it). The kernels dir is, like `jupyter kernelspec
 * install --user`: $JUPYTER_DATA_DIR/kernels, else ~/.local/share/jupyter/kernels on Linux
 * ($XDG_DATA_HOME is honoured), ~/Library/Jupyter/kernels on macOS, %APPDATA%\jupyter\kernels on
 * Windows. With --prefix DIR: DIR/share/jupyter/kernels, like `jupyter kernelspec install --prefix`.
 */
import { parseCli } from "./cli";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SEND_QUEUE_PRELOAD, KERNEL_ROOT_PRELOAD, tslabBinPath } from "./notebook/kernel";

export interface InstallOptions {
  name?: string;
  displayName?: string;
  prefix?: string;
  /** Defaults to process.env / os.platform() / os.homedir(); tests pass their own. */
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal";
}

/** The user's Jupyter data directory, as jupyter_core's `jupyter_data_dir()` finds it. */
export function jupyterDataDir(env = process.env, platform = os.platform(), home = os.homedir()): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  if (platform === "darwin") return path.join(home, "Library", "Jupyter");
  if (platform === "win32") {
    const appData = env.APPDATA;
    return appData ? path.join(appData, "jupyter") : path.join(home, ".jupyter", "data");
  }
  const xdg = env.XDG_DATA_HOME || path.join(home, ".local", "share");
  return path.join(xdg, "jupyter");
}

/** The kernel.json: node, the preload, tslab's entry script, all as absolute paths. */
export function kernelSpec(displayName = "TypeScript (LoRA book)"): KernelSpec {
  return {
    argv: [process.execPath, "-r", SEND_QUEUE_PRELOAD, "-r", KERNEL_ROOT_PRELOAD, tslabBinPath(), "kernel", "--config-path", "{connection_file}"],
    display_name: displayName,
    language: "typescript",
    // Jupyter interrupts by SIGINT, which tslab handles (a running cell stops with an error).
    interrupt_mode: "signal",
  };
}

/** Writes the kernelspec folder and returns its path. */
export function installKernel(options: InstallOptions = {}): string {
  const name = options.name ?? "tslab";
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) throw new Error(`invalid kernel name ${JSON.stringify(name)}: use letters, digits, ".", "_", "-"`);
  const kernelsDir = options.prefix
    ? path.join(path.resolve(options.prefix), "share", "jupyter", "kernels")
    : path.join(jupyterDataDir(options.env, options.platform, options.home), "kernels");
  const dir = path.join(kernelsDir, name.toLowerCase()); // Jupyter lower-cases kernel names
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(kernelSpec(options.displayName), null, 1) + "\n");
  return dir;
}

const USAGE = "usage: tsx scripts/install-kernel.ts [--name NAME] [--display-name TEXT] [--prefix DIR]";

export function parseArgs(argv: string[]): InstallOptions {
  // --user is the default, accepted for familiarity with `jupyter kernelspec install --user`.
  const { values } = parseCli(argv, { name: { type: "string" }, "display-name": { type: "string" }, prefix: { type: "string" }, user: { type: "boolean" } }, USAGE);
  return { name: values.name as string | undefined, displayName: values["display-name"] as string | undefined, prefix: values.prefix as string | undefined };
}

if (require.main === module) {
  try {
    const dir = installKernel(parseArgs(process.argv.slice(2)));
    console.log(`Installed the tslab kernelspec (with the send-queue fix) in ${dir}`);
    console.log(fs.readFileSync(path.join(dir, "kernel.json"), "utf8").trimEnd());
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 1;
  }
}
