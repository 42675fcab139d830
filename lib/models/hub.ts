import * as fs from "fs";
import * as path from "path";
import { downloadFile } from "../io/download";
import { readSafetensorsDir } from "../io/safetensors";
import { readJson } from "../io/files";
import type { ProgressStream } from "../util/progress";

// Fetch a model's files from the Hugging Face hub into a local folder, with resume (each file goes
// to FILE.part first) and size checks (against the server's Content-Length), then check that what
// arrived is a readable checkpoint. Nothing in lib/ downloads on its own: fromPretrained reads folders.

/** What distilbert-base-uncased needs: weights, config and tokenizer. */
export const DISTILBERT_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"];

export interface HubDownloadOptions {
  /** The hub repository, e.g. "distilbert-base-uncased". */
  repo: string;
  /** Where the files go. */
  dir: string;
  files?: string[];
  /** The hub's address (or a mirror's); HF_ENDPOINT overrides the default, as in huggingface_hub. */
  endpoint?: string;
  revision?: string;
  /** Progress bars: false for none, or a stream (tests). */
  progress?: boolean | { stream: ProgressStream; now?: () => number };
  log?: (line: string) => void;
}

export async function downloadFromHub(options: HubDownloadOptions): Promise<string[]> {
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
  const revision = options.revision ?? "main";
  const files = options.files ?? DISTILBERT_FILES;
  const log = options.log ?? console.log;
  await fs.promises.mkdir(options.dir, { recursive: true });
  for (const file of files) {
    const url = `${endpoint}/${options.repo}/resolve/${revision}/${file}`;
    const result = await downloadFile({ url, dest: path.join(options.dir, file), progress: options.progress ?? true });
    log(`${file}: ${result.cached ? "already here" : `${result.bytes.toLocaleString("en-US")} bytes`}${result.resumes ? ` (resumed ${result.resumes}x)` : ""}`);
  }
  // A folder that fromPretrained will read: a config and a safetensors checkpoint that parse.
  if (files.includes("config.json")) readJson(path.join(options.dir, "config.json"));
  if (files.some((f) => f.endsWith(".safetensors") || f.endsWith(".index.json"))) readSafetensorsDir(options.dir);
  return files.map((file) => path.join(options.dir, file));
}
