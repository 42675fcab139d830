/**
 * A small Jupyter client (wire protocol 5.3 over ZeroMQ) that starts the tslab kernel and runs code
 * in it, with no Python or Jupyter installed.
 *
 * What tslab really sends (see shared/notes/tslab-kernel.md): iopub `busy`, then `stream` and
 * `display_data` messages, then the shell `execute_reply`, then iopub `idle`. No `execute_input`,
 * `execute_result` or `error`: a cell's last value is printed to stdout, and errors arrive only as
 * stderr text with `execute_reply.status == "error"`. We still accept `execute_result` and `error`
 * so the client works with other kernels too.
 */
import { spawn, type ChildProcess } from "child_process";
import { createHmac, randomBytes, randomUUID } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as zmq from "zeromq";

/** A mime-type keyed bundle, as in `display_data.content.data`. */
export type MimeBundle = Record<string, unknown>;

/** One iopub output of an execution, in arrival order. */
export type KernelOutput =
  | { type: "stream"; name: "stdout" | "stderr"; text: string }
  | { type: "display_data"; data: MimeBundle; metadata: Record<string, unknown>; displayId?: string }
  | { type: "update_display_data"; data: MimeBundle; metadata: Record<string, unknown>; displayId: string }
  | { type: "execute_result"; data: MimeBundle; metadata: Record<string, unknown>; executionCount: number | null }
  | { type: "error"; ename: string; evalue: string; traceback: string[] }
  | { type: "clear_output"; wait: boolean };

export interface ExecuteResult {
  /** "timeout": the cell ran past its limit and was interrupted (or the kernel killed). */
  status: "ok" | "error" | "abort" | "timeout";
  /** The kernel's count from `execute_reply` (null when it gave none). */
  executionCount: number | null;
  outputs: KernelOutput[];
  durationMs: number;
  /** True when the kernel did not answer the interrupt and was killed: it cannot run more code. */
  kernelDead?: boolean;
}

export interface ExecuteOptions {
  /** Interrupt (SIGINT) the cell after this many ms. Default: no limit. */
  timeoutMs?: number;
  /** After the interrupt, wait this long for the kernel to answer before killing it. Default 5000. */
  interruptGraceMs?: number;
}

export interface KernelStartOptions {
  /** Working directory of the kernel: the notebook's folder, so `import ... from "../lib"` resolves. */
  cwd: string;
  /** Give up if the kernel does not answer kernel_info within this many ms. Default 30000. */
  startTimeoutMs?: number;
  /** Environment of the kernel process. Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Preload zmq-send-queue.cjs (the fix for tslab's hang on large outputs). Default true. */
  sendQueue?: boolean;
  /** The tslab entry script. Default: node_modules/tslab/bin/tslab as Node resolves it from here. */
  tslabBin?: string;
  /**
   * The whole command line instead, as in a kernelspec's kernel.json: "{connection_file}" is
   * replaced by the connection file's path. `sendQueue` and `tslabBin` are then ignored.
   */
  argv?: string[];
}

/** Absolute path of the preload module that queues the kernel's ZeroMQ sends. */
export const SEND_QUEUE_PRELOAD = path.join(__dirname, "zmq-send-queue.cjs");
/** Preload that moves the kernel to the project's root, where the notebooks' "./lib" imports resolve. */
export const KERNEL_ROOT_PRELOAD = path.join(__dirname, "kernel-root.cjs");
/** The project's root: the working folder of the book's kernels. */
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** Absolute path of tslab's command-line entry (`bin/tslab`, a Node script). */
export function tslabBinPath(): string {
  return path.join(path.dirname(require.resolve("tslab/package.json")), "bin", "tslab");
}

interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

interface Message {
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, any>;
}

interface ConnectionInfo {
  transport: "tcp";
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: "hmac-sha256";
  kernel_name: string;
}

/** A request waiting for its shell/control reply and its iopub `idle`. */
interface Pending {
  outputs: KernelOutput[];
  reply?: Message;
  idle: boolean;
  done: () => void;
}

const DELIM = "<IDS|MSG>";
const PROTOCOL_VERSION = "5.3";
/** tslab resets its execute queue 200 ms after an error; we wait a little longer. */
const ERROR_QUIET_MS = 300;

/** Kernels started by this process and not yet shut down: killed if this process exits first. */
const liveKernels = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackKernel(child: ChildProcess): void {
  liveKernels.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const c of liveKernels) c.kill("SIGKILL");
    });
  }
}

/** Asks the OS for `n` distinct free TCP ports on 127.0.0.1. */
async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** Keeps the last `limit` characters written to it (the kernel's own stdout/stderr, for errors). */
class TailBuffer {
  private text = "";
  constructor(private readonly limit = 16_000) {}
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit);
  }
  toString(): string {
    return this.text;
  }
}

export class Kernel {
  /** `kernel_info_reply` content (language_info etc.). */
  kernelInfo: Record<string, any> = {};
  private readonly session = randomUUID();
  private readonly pending = new Map<string, Pending>();
  private readonly sendChains = new WeakMap<zmq.Socket, Promise<unknown>>();
  private readonly log = new TailBuffer();
  private execChain: Promise<unknown> = Promise.resolve();
  /** No execute_request before this time (see executeNow). */
  private quietUntil = 0;
  private exited: Promise<void>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private onIopubMessage: ((msg: Message) => void) | null = null;
  private closed = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly conn: ConnectionInfo,
    private readonly connDir: string,
    private readonly shell: zmq.Dealer,
    private readonly control: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
  ) {
    this.exited = new Promise((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        this.exitInfo ??= { code, signal };
        liveKernels.delete(child);
        resolve();
      };
      child.once("exit", onExit);
      child.once("error", (err) => {
        // Could not start (or signal) the process.
        this.log.push(`\n${err.message}\n`);
        if (child.exitCode === null && child.pid === undefined) onExit(null, null);
      });
    });
    child.stdout?.on("data", (d: Buffer) => this.log.push(d));
    child.stderr?.on("data", (d: Buffer) => this.log.push(d));
  }

  /** Starts tslab in `options.cwd` and waits until it answers on shell and iopub. */
  static async start(options: KernelStartOptions): Promise<Kernel> {
    const [shellPort, iopubPort, stdinPort, controlPort, hbPort] = await freePorts(5);
    const conn: ConnectionInfo = {
      transport: "tcp",
      ip: "127.0.0.1",
      shell_port: shellPort,
      iopub_port: iopubPort,
      stdin_port: stdinPort,
      control_port: controlPort,
      hb_port: hbPort,
      key: randomBytes(32).toString("hex"),
      signature_scheme: "hmac-sha256",
      kernel_name: "tslab",
    };
    const connDir = fs.mkdtempSync(path.join(os.tmpdir(), "tslab-kernel-"));
    const connFile = path.join(connDir, "connection.json");
    fs.writeFileSync(connFile, JSON.stringify(conn, null, 1), { mode: 0o600 });

    const [command, ...args] = options.argv?.map((a) => a.replace("{connection_file}", connFile)) ?? [process.execPath];
    if (!options.argv) {
      if (options.sendQueue ?? true) args.push("-r", SEND_QUEUE_PRELOAD);
      args.push(options.tslabBin ?? tslabBinPath(), "kernel", "--config-path", connFile);
    }
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...(options.env ?? process.env), LORA_KERNEL_PARENT_PID: String(process.pid) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    trackKernel(child);

    const socketOptions = { linger: 0 };
    const identity = `runner-${randomBytes(4).toString("hex")}`;
    const shell = new zmq.Dealer({ ...socketOptions, routingId: `${identity}-shell` });
    const control = new zmq.Dealer({ ...socketOptions, routingId: `${identity}-control` });
    // No high-water mark: ZeroMQ would drop iopub messages past 1000 queued (a cell printing
    // thousands of lines), possibly the final `idle` too.
    const iopub = new zmq.Subscriber({ ...socketOptions, receiveHighWaterMark: 0 });
    iopub.subscribe();
    const address = (port: number) => `tcp://127.0.0.1:${port}`;
    shell.connect(address(shellPort));
    control.connect(address(controlPort));
    iopub.connect(address(iopubPort));

    const kernel = new Kernel(child, conn, connDir, shell, control, iopub);
    kernel.receiveLoop(shell);
    kernel.receiveLoop(control);
    kernel.receiveLoop(iopub);
    try {
      await kernel.waitReady(options.startTimeoutMs ?? 30_000);
    } catch (err) {
      await kernel.shutdown();
      throw err;
    }
    return kernel;
  }

  /** The kernel process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the kernel process is still running. */
  get alive(): boolean {
    return this.exitInfo === null;
  }

  /**
   * Runs `code` and collects its outputs. Resolves once the kernel has sent both `execute_reply`
   * and the iopub `idle` for this request. Calls are queued: one cell runs at a time.
   */
  execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    const run = this.execChain.then(() => this.executeNow(code, options));
    this.execChain = run.catch(() => {});
    return run;
  }

  /** Interrupts the running cell (SIGINT, as `jupyter` does for kernels without interrupt_request). */
  interrupt(): void {
    if (this.alive) this.child.kill("SIGINT");
  }

  /**
   * Stops the kernel: `shutdown_request` on control, then SIGKILL if it has not exited within
   * `graceMs`. Closes our sockets and removes the connection file. Safe to call twice.
   */
  async shutdown(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.alive) {
      try {
        const reply = this.request(this.control, "shutdown_request", { restart: false });
        await within(Promise.race([reply, this.exited]), graceMs);
      } catch {
        // The kernel may already be gone: we kill it below anyway.
      }
      // tslab closes its sockets but may keep running (a cell's timers, its TS watcher): don't wait long.
      await within(this.exited, 500);
      if (this.alive) {
        this.child.kill("SIGKILL");
        await this.exited;
      }
    }
    for (const p of this.pending.values()) p.done();
    this.pending.clear();
    this.shell.close();
    this.control.close();
    this.iopub.close();
    fs.rmSync(this.connDir, { recursive: true, force: true });
  }

  /** The last lines the kernel process wrote to its own stdout/stderr (not cell output). */
  processLog(): string {
    return this.log.toString();
  }

  private async executeNow(code: string, options: ExecuteOptions): Promise<ExecuteResult> {
    if (this.closed || !this.alive) throw new Error(`tslab kernel is not running${this.describeExit()}`);
    // After a failed cell tslab rejects its whole execute queue and only resets it 200 ms later
    // (https://github.com/yunabe/tslab/issues/19): a request sent within that window is answered "abort" and never runs.
    const wait = this.quietUntil - Date.now();
    if (wait > 0) await within(this.exited, wait);
    const started = Date.now();
    const content = {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    };
    const { msgId, finished } = this.startRequest(this.shell, "execute_request", content);
    const entry = this.pending.get(msgId)!;

    let timedOut = false;
    let kernelDead = false;
    let timer: NodeJS.Timeout | undefined;
    const outcome = new Promise<"finished" | "exited">((resolve) => {
      finished.then(() => resolve("finished"));
      this.exited.then(() => resolve("exited"));
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          timedOut = true;
          this.interrupt();
          // Give the kernel a moment to report the interrupt; if it can't (a native call that
          // never returns, a wedged event loop), kill it.
          timer = setTimeout(() => {
            if (this.alive) {
              kernelDead = true;
              this.child.kill("SIGKILL");
            }
          }, options.interruptGraceMs ?? 5000);
        }, options.timeoutMs);
      }
    });
    const how = await outcome;
    clearTimeout(timer);
    this.pending.delete(msgId);

    const reply = entry.reply?.content;
    let status: ExecuteResult["status"] = reply?.status === "ok" ? "ok" : reply?.status === "abort" ? "abort" : "error";
    if (timedOut) status = "timeout";
    else if (how === "exited") {
      // process.exit() in a cell, a native crash, out of memory: keep what it printed before.
      const evalue = `the tslab kernel exited while running the cell${this.describeExit()}`;
      const log = this.log.toString().trim();
      entry.outputs.push({ type: "error", ename: "KernelError", evalue, traceback: [evalue, ...(log ? log.split("\n") : [])] });
      status = "error";
      kernelDead = true;
    }
    if (status !== "ok") this.quietUntil = Date.now() + ERROR_QUIET_MS;
    return {
      status,
      executionCount: typeof reply?.execution_count === "number" ? reply.execution_count : null,
      outputs: entry.outputs,
      durationMs: Date.now() - started,
      ...(kernelDead || !this.alive ? { kernelDead: true } : {}),
    };
  }

  /** Sends kernel_info_request until both the shell reply and an iopub message have arrived. */
  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let iopubSeen = false;
    this.onIopubMessage = () => {
      iopubSeen = true;
    };
    const asked: string[] = [];
    const answer = (): Message | undefined => asked.map((id) => this.pending.get(id)?.reply).find((r) => r);
    try {
      // The subscriber may join after the kernel's first status messages (ZeroMQ's "slow joiner"),
      // so keep asking until iopub has delivered something too.
      while (!(answer() && iopubSeen)) {
        if (!this.alive) {
          throw new Error(`tslab kernel exited during start-up${this.describeExit()}\n${this.log.toString().trim()}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`tslab kernel did not answer within ${timeoutMs} ms\n${this.log.toString().trim()}`);
        }
        asked.push(this.startRequest(this.shell, "kernel_info_request", {}, true).msgId);
        await within(this.exited, answer() ? 100 : 250);
      }
      this.kernelInfo = answer()!.content;
    } finally {
      this.onIopubMessage = null;
      for (const id of asked) this.pending.delete(id);
    }
  }

  /** Sends a request and resolves with its reply once the kernel is idle again. */
  private async request(socket: zmq.Dealer, msgType: string, content: Record<string, unknown>): Promise<Message> {
    const { msgId, finished } = this.startRequest(socket, msgType, content);
    await finished;
    const entry = this.pending.get(msgId);
    this.pending.delete(msgId);
    if (!entry?.reply) throw new Error(`no reply to ${msgType}`);
    return entry.reply;
  }

  /**
   * Registers a pending request and sends it. `finished` resolves when both its reply and its
   * `idle` status arrived; with `replyOnly`, when the reply alone did.
   */
  private startRequest(
    socket: zmq.Dealer,
    msgType: string,
    content: Record<string, unknown>,
    replyOnly = false,
  ): { msgId: string; finished: Promise<void> } {
    const header: Header = {
      msg_id: randomUUID(),
      session: this.session,
      username: "notebook-runner",
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    };
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const entry: Pending = { outputs: [], idle: replyOnly, done };
    this.pending.set(header.msg_id, entry);
    const frames = this.sign([header, {}, {}, content]);
    this.sendQueued(socket, [DELIM, ...frames]).catch(() => {
      // Sending fails only when our socket is closed, i.e. at shutdown.
    });
    return { msgId: header.msg_id, finished };
  }

  /** Our own sends, one at a time per socket (zeromq allows only one in flight). */
  private sendQueued(socket: zmq.Dealer, frames: string[]): Promise<void> {
    const previous = this.sendChains.get(socket) ?? Promise.resolve();
    const next = previous.then(() => socket.send(frames));
    this.sendChains.set(
      socket,
      next.catch(() => {}),
    );
    return next;
  }

  /** [signature, header, parent, metadata, content]: HMAC-SHA256 over the four JSON frames. */
  private sign(parts: unknown[]): string[] {
    const json = parts.map((p) => JSON.stringify(p));
    const hmac = createHmac("sha256", this.conn.key);
    for (const j of json) hmac.update(j);
    return [hmac.digest("hex"), ...json];
  }

  private parse(frames: Buffer[]): Message | null {
    const i = frames.findIndex((f) => f.toString() === DELIM);
    if (i < 0 || frames.length < i + 6) return null;
    const [signature, ...parts] = frames.slice(i + 1, i + 6);
    const hmac = createHmac("sha256", this.conn.key);
    for (const p of parts) hmac.update(p);
    if (hmac.digest("hex") !== signature.toString()) return null; // not from our kernel: ignore
    const [header, parent_header, metadata, content] = parts.map((p) => JSON.parse(p.toString()));
    return { header, parent_header, metadata, content };
  }

  private receiveLoop(socket: zmq.Dealer | zmq.Subscriber): void {
    void (async () => {
      try {
        for await (const frames of socket) {
          const msg = this.parse(frames);
          if (msg) this.dispatch(msg, socket === this.iopub);
        }
      } catch {
        // The socket was closed under us: the kernel is shutting down.
      }
    })();
  }

  private dispatch(msg: Message, fromIopub: boolean): void {
    if (fromIopub) this.onIopubMessage?.(msg);
    const parentId = msg.parent_header?.msg_id;
    const entry = parentId === undefined ? undefined : this.pending.get(parentId);
    if (!entry) return; // late output of a finished cell, or another client's: dropped
    if (!fromIopub) {
      entry.reply = msg;
      if (entry.idle) entry.done();
      return;
    }
    const c = msg.content;
    switch (msg.header.msg_type) {
      case "status":
        if (c.execution_state === "idle") {
          entry.idle = true;
          if (entry.reply) entry.done();
        }
        break;
      case "stream":
        entry.outputs.push({ type: "stream", name: c.name === "stderr" ? "stderr" : "stdout", text: String(c.text) });
        break;
      case "display_data":
      case "update_display_data": {
        const displayId = c.transient?.display_id;
        const common = { data: c.data ?? {}, metadata: c.metadata ?? {} };
        if (msg.header.msg_type === "display_data") {
          entry.outputs.push({ type: "display_data", ...common, ...(displayId ? { displayId } : {}) });
        } else if (displayId) {
          entry.outputs.push({ type: "update_display_data", ...common, displayId });
        }
        break;
      }
      case "execute_result":
        entry.outputs.push({
          type: "execute_result",
          data: c.data ?? {},
          metadata: c.metadata ?? {},
          executionCount: c.execution_count ?? null,
        });
        break;
      case "error":
        entry.outputs.push({ type: "error", ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] });
        break;
      case "clear_output":
        entry.outputs.push({ type: "clear_output", wait: Boolean(c.wait) });
        break;
      default:
        break; // execute_input, comm messages: not part of the notebook
    }
  }

  private describeExit(): string {
    if (!this.exitInfo) return "";
    const { code, signal } = this.exitInfo;
    return signal ? ` (killed by ${signal})` : ` (exit code ${code})`;
  }
}

/** Waits for `promise` at most `ms` milliseconds; true if it settled in time. Leaves no timer behind. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
