/**
 * JupyterLab 4 with the book's notebooks, for readers without a JupyterLab of their own:
 *
 *   npm run lab [-- --port N] [-- --build-only]
 *
 * Builds the front end from JupyterLab's npm packages (scripts/lab/package.json, pinned by its
 * package-lock.json) if it is missing or older than its sources, registers the tslab kernel
 * (scripts/install-kernel.ts) and serves notebooks/ on 127.0.0.1 with Debian's jupyter_server and
 * jupyterlab_server (apt-get install python3-jupyterlab-server), printing the address to open.
 *
 * The build happens in .cache/lab/ (git-ignored), where the front end's own node_modules, with the
 * TypeScript sources many JupyterLab packages ship, stays out of the project's checks of scripts/.
 * To change a pin: edit scripts/lab/package.json, then `npm install --package-lock-only` there.
 */
import { execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parseCli } from "./cli";
import { installKernel } from "./install-kernel";

export const REPO = path.resolve(__dirname, "..");
/** The front end's sources, committed. */
export const LAB_SOURCES = path.join(REPO, "scripts", "lab");
/** Where it is installed and built. */
export const LAB_WORK = path.join(REPO, ".cache", "lab");
/** What the server serves; server.py finds it at the same place. */
export const LAB_STATIC = path.join(LAB_WORK, "build", "static");
export const LAB_SERVER = path.join(LAB_SOURCES, "server.py");
/** Debian's Python, where apt installs jupyter_server and jupyterlab_server. */
export const PYTHON = "/usr/bin/python3";

/** The files the npm install, and the files the bundle, are made from. */
const INSTALL_INPUTS = ["package.json", "package-lock.json"];
const BUILD_INPUTS = [...INSTALL_INPUTS, "index.js", "rspack.config.js"];

function hashOf(files: string[]): string {
  const hash = crypto.createHash("sha256");
  for (const file of files) hash.update(file).update("\0").update(fs.readFileSync(path.join(LAB_SOURCES, file))).update("\0");
  return hash.digest("hex");
}

const stamp = (file: string) => {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
};

/** Whether the built front end is there and made from the current sources. */
export function labBuildIsCurrent(): boolean {
  return fs.existsSync(path.join(LAB_STATIC, "bundle.js")) && stamp(path.join(LAB_WORK, "build", ".sources-hash")) === hashOf(BUILD_INPUTS);
}

/** Installs the front end's npm packages and bundles it, each step only when its inputs changed. */
export function ensureLabBuild(log: (line: string) => void = console.log): void {
  if (labBuildIsCurrent()) return;
  fs.mkdirSync(LAB_WORK, { recursive: true });
  for (const file of BUILD_INPUTS) fs.copyFileSync(path.join(LAB_SOURCES, file), path.join(LAB_WORK, file));
  const installHash = hashOf(INSTALL_INPUTS);
  const installStamp = path.join(LAB_WORK, "node_modules", ".lock-hash");
  if (stamp(installStamp) !== installHash) {
    log("lab: installing JupyterLab's npm packages (npm ci in .cache/lab)");
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: LAB_WORK, stdio: "inherit" });
    fs.writeFileSync(installStamp, installHash + "\n");
  }
  log("lab: building the JupyterLab front end (rspack)");
  fs.rmSync(path.join(LAB_WORK, "build"), { recursive: true, force: true });
  execFileSync(path.join(LAB_WORK, "node_modules", ".bin", "rspack"), ["--config", "rspack.config.js"], { cwd: LAB_WORK, stdio: ["ignore", "ignore", "inherit"] });
  fs.writeFileSync(path.join(LAB_WORK, "build", ".sources-hash"), hashOf(BUILD_INPUTS) + "\n");
}

/** The problem with the Python side, or null when jupyterlab_server can be imported. */
export function pythonProblem(): string | null {
  try {
    execFileSync(PYTHON, ["-c", "import jupyterlab_server, jupyter_server"], { stdio: "ignore", env: pythonEnv() });
    return null;
  } catch {
    return `${PYTHON} cannot import jupyterlab_server: apt-get install python3-jupyterlab-server`;
  }
}

/** The environment for Debian's Python: none of another Python's search paths. */
export function pythonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean = { ...env };
  delete clean.PYTHONPATH;
  delete clean.PYTHONHOME;
  return clean;
}

const USAGE = "usage: npm run lab [-- --port N] [-- --build-only]";

function main(): void {
  const { values } = parseCli(process.argv.slice(2), { port: { type: "string" }, "build-only": { type: "boolean" } }, USAGE);
  ensureLabBuild();
  if (values["build-only"]) return;
  const problem = pythonProblem();
  if (problem) throw new Error(problem);
  installKernel();
  const port = values.port === undefined ? 8888 : Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  const token = crypto.randomBytes(24).toString("hex");
  const args = [LAB_SERVER, "--no-browser", "--ServerApp.ip=127.0.0.1", `--ServerApp.port=${port}`, `--ServerApp.token=${token}`, `--ServerApp.root_dir=${path.join(REPO, "notebooks")}`];
  if (process.getuid?.() === 0) args.push("--allow-root");
  const server = spawn(PYTHON, args, { cwd: REPO, env: pythonEnv(), stdio: ["inherit", "inherit", "pipe"] });
  let announced = false;
  server.stderr!.on("data", (chunk: Buffer) => {
    process.stderr.write(chunk);
    // The port actually taken (the server moves on from a busy one) is in its "is running at" line.
    const taken = /http:\/\/127\.0\.0\.1:(\d+)\/lab/.exec(chunk.toString());
    if (taken && !announced) {
      announced = true;
      console.log(`\nJupyterLab with the book: http://127.0.0.1:${taken[1]}/lab?token=${token}\n(Ctrl-C stops it.)\n`);
    }
  });
  server.on("exit", (code) => (process.exitCode = code ?? 1));
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => server.kill(signal));
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 1;
  }
}
