/**
 * Headless Chromium for the book's browser tests: Debian's own build (apt-get install chromium)
 * driven by playwright-core, so no browser download is needed. Quiet flags: no update checks, no
 * sync, no background requests that would show up as network traffic.
 */
import * as fs from "fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * Starts Chromium with a fresh profile (playwright makes a temporary --user-data-dir and removes it).
 * `webgpu`: offer WebGPU, which headless Chromium without a GPU runs on SwiftShader, on the CPU.
 */
export async function launchChromium(options: { webgpu?: boolean } = {}): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: install Debian's Chromium with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: options.webgpu ? [...FLAGS, "--enable-unsafe-webgpu"] : FLAGS });
}
