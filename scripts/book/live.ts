/**
 * Live sections: a chapter may name a TypeScript entry ("live" in book.config.json) that runs in
 * the reader's browser. The build bundles it with esbuild (lib/ code included, tfjs with it) into
 * assets/live/NAME.js and ends the chapter's page with a section the script fills in. The files an
 * entry loads ("liveAssets": a module's writeAssets(dir)) go to assets/live/NAME/ (build-book.ts).
 * package.json's "browser" field maps Node's fs, path and crypto to empty modules in these bundles:
 * only the library's file functions (fromPretrained(dir), save(dir)) import them, and a page never
 * calls those.
 */
import * as fs from "fs";
import * as path from "path";
import { buildSync } from "esbuild";
import type { Heading } from "./markdown";

export const LIVE_HEADING = "Try it in this page";

/** The section's HTML, and its heading for the page's table of contents. `name` is the entry's base name. */
export function liveSection(name: string, headings: Heading[]): string {
  const id = headings.some((h) => h.id === "live") ? `live-${name}` : "live";
  headings.push({ depth: 2, id, html: LIVE_HEADING });
  return (
    `<section class="live">\n<h2 id="${id}">${LIVE_HEADING}</h2>\n` +
    `<div data-live="${name}"><p>This section runs in your browser and needs JavaScript.</p></div>\n` +
    `<script src="assets/live/${name}.js"></script>\n</section>\n`
  );
}

/** Bundle `entry` for the browser into SITE/assets/live/NAME.js; errors name the entry. */
export function bundleLive(entry: string, site: string): void {
  if (!fs.existsSync(entry)) throw new Error(`live section: ${entry} not found`);
  const outfile = path.join(site, "assets", "live", `${liveName(entry)}.js`);
  try {
    buildSync({ entryPoints: [entry], bundle: true, platform: "browser", format: "iife", target: "es2020", minify: true, outfile, logLevel: "silent", legalComments: "none" });
  } catch (error) {
    const errors = (error as { errors?: { text: string }[] }).errors;
    throw new Error(`live section ${entry}: ${errors ? errors.map((e) => e.text).join("; ") : (error as Error).message}`);
  }
}

/** "lora-toy" for scripts/book/live/lora-toy.ts. */
export function liveName(entry: string): string {
  return path.basename(entry).replace(/\.[^.]+$/, "");
}
