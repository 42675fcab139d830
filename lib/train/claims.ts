import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// Claims let several workers share one folder of independent runs (a grid's points) without a
// coordinator: before a run, a worker creates NAME.claim.K with O_EXCL, which exactly one process
// can do, on a local disk or over NFS alike. The claim with the highest K is the current one. A
// claim left by a crashed worker on this machine (its process is gone) is taken over by creating
// NAME.claim.K+1, which again only one worker can win. A claim from another machine cannot be
// checked from here: its owner is named, so a person can delete it once that run is known dead.

/** Who holds a claim: enough to find the process, and a token that tells workers of one process apart. */
export interface ClaimOwner {
  host: string;
  pid: number;
  token: string;
  since: string;
}

/** A claim's outcome: held by this worker (release() gives it back), or by `heldBy`. */
export interface ClaimResult {
  claimed: boolean;
  /** Removes every claim file of the name; a no-op when the claim was not won. */
  release: () => void;
  /** The live worker that holds it, when not claimed. */
  heldBy?: ClaimOwner;
  /** The gone worker whose claim this one took over. */
  tookOverFrom?: ClaimOwner;
}

const UNKNOWN_OWNER: ClaimOwner = { host: "?", pid: 0, token: "", since: "" };
const nothingToRelease = () => undefined;

/** A worker's identity: one per runGrid call, so two workers in one process are two owners. */
export function newOwner(): Omit<ClaimOwner, "since"> {
  return { host: os.hostname(), pid: process.pid, token: crypto.randomBytes(6).toString("hex") };
}

/** What every claim file of `name` begins with: NAME.claim.K. */
const claimPrefix = (name: string) => `${name}.claim.`;

/** The current claim on `name` in `dir`, if any: its number and owner. */
export function currentClaim(dir: string, name: string): { attempt: number; owner: ClaimOwner } | null {
  const prefix = claimPrefix(name);
  const attempts = fs
    .readdirSync(dir)
    .filter((file) => file.startsWith(prefix) && /^\d+$/.test(file.slice(prefix.length)))
    .map((file) => Number(file.slice(prefix.length)))
    .sort((a, b) => b - a);
  for (const attempt of attempts) {
    const owner = readOwner(path.join(dir, `${prefix}${attempt}`));
    if (owner) return { attempt, owner };
  }
  return attempts.length > 0 ? { attempt: attempts[0], owner: UNKNOWN_OWNER } : null;
}

/** True when the owner is a process on this machine that no longer runs. */
export function isDeadHere(owner: ClaimOwner): boolean {
  if (owner.host !== os.hostname() || !(owner.pid > 0)) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Claim `name` in `dir` for `owner`. Fails (claimed: false) while another live worker holds it;
 * takes over a claim whose process on this machine is gone. `release` removes every claim file of
 * `name`: call it once the run's result is written, or when the run fails.
 */
export function claim(dir: string, name: string, owner: Omit<ClaimOwner, "since">): ClaimResult {
  fs.mkdirSync(dir, { recursive: true });
  const current = currentClaim(dir, name);
  if (current && !isDeadHere(current.owner)) return { claimed: false, release: nothingToRelease, heldBy: current.owner };
  const attempt = current ? current.attempt + 1 : 0;
  const file = path.join(dir, `${claimPrefix(name)}${attempt}`);
  const mine: ClaimOwner = { ...owner, since: new Date().toISOString() };
  let fd: number;
  try {
    fd = fs.openSync(file, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`${file}: cannot create the claim (${(error as Error).message})`);
    return { claimed: false, release: nothingToRelease, heldBy: readOwner(file) ?? UNKNOWN_OWNER }; // another worker won this attempt
  }
  fs.writeSync(fd, JSON.stringify(mine) + "\n");
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const release = () => {
    for (const f of fs.readdirSync(dir)) if (f.startsWith(claimPrefix(name))) fs.rmSync(path.join(dir, f), { force: true });
  };
  return { claimed: true, release, ...(current ? { tookOverFrom: current.owner } : {}) };
}

/** A claim file's owner; null while its creator has not yet written it (or for a foreign file). */
function readOwner(file: string): ClaimOwner | null {
  try {
    const value = JSON.parse(fs.readFileSync(file, "utf8")) as ClaimOwner;
    return typeof value.host === "string" && typeof value.pid === "number" ? value : null;
  } catch {
    return null;
  }
}

/** "host pid 123 since 2026-…" for messages. */
export function describeOwner(owner: ClaimOwner | undefined): string {
  if (!owner) return "another worker";
  return `${owner.host} pid ${owner.pid}${owner.since ? ` since ${owner.since}` : ""}`;
}
