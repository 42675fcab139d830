/** Syntax highlighting at build time with highlight.js: the reader's browser runs no highlighter. */
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import typescript from "highlight.js/lib/languages/typescript";
import { escapeHtml } from "./html";

// Only the languages a LoRA book shows: the notebooks' TypeScript, and shell, JSON and Python in prose.
hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("json", json);
hljs.registerLanguage("bash", bash);
hljs.registerLanguage("python", python);

/** Notebook and fence names for the registered languages. */
const ALIASES: Record<string, string> = { ts: "typescript", tsx: "typescript", js: "javascript", sh: "bash", shell: "bash", console: "bash", py: "python" };

/** The registered language for a fence or notebook language name, or null (shown as plain text). */
export function languageOf(name: string | undefined): string | null {
  const key = (name ?? "").trim().toLowerCase();
  const lang = ALIASES[key] ?? key;
  return hljs.getLanguage(lang) ? lang : null;
}

/** `<pre><code>` with highlight.js's `hljs-*` spans (coloured by book.css). */
export function highlightBlock(code: string, language: string | undefined): string {
  const lang = languageOf(language);
  const body = lang ? hljs.highlight(code, { language: lang, ignoreIllegals: true }).value : escapeHtml(code);
  const cls = lang ? `hljs language-${lang}` : "hljs";
  return `<pre><code class="${cls}">${body}</code></pre>`;
}
