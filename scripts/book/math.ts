/**
 * `$...$` and `$$...$$` math for marked, typeset with KaTeX at build time (the pages need only
 * KaTeX's CSS and fonts, no script).
 *
 * Inline `$x$` follows pandoc's rule so that prices stay text: the opening `$` is not followed by a
 * space, the closing one is not preceded by a space nor followed by a digit. `\$` is a dollar sign.
 */
import katex from "katex";
import type { TokenizerAndRendererExtension, Tokens } from "./marked";

/** Called when a formula does not parse; it is then shown in red in the page. */
export type MathErrorHandler = (tex: string, message: string) => void;

const BLOCK = /^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/;
const INLINE_DISPLAY = /^\$\$((?:\\[\s\S]|[^\\$])+?)\$\$/;
const INLINE = /^\$(?![\s$])((?:\\[\s\S]|[^\\$\n]|\n(?![ \t]*\n))+?)(?<![\s\\])\$(?!\d)/;

/** KaTeX HTML (with MathML for screen readers) for one formula. */
export function renderMath(tex: string, displayMode: boolean, onError?: MathErrorHandler): string {
  const options = { displayMode, output: "htmlAndMathml" as const, strict: "ignore" as const };
  try {
    return katex.renderToString(tex, { ...options, throwOnError: true });
  } catch (err) {
    onError?.(tex, (err as Error).message);
    return katex.renderToString(tex, { ...options, throwOnError: false });
  }
}

interface MathToken extends Tokens.Generic {
  tex: string;
  display: boolean;
}

export function mathExtensions(onError?: MathErrorHandler): TokenizerAndRendererExtension[] {
  const render = (token: Tokens.Generic) => {
    const { tex, display } = token as MathToken;
    const html = renderMath(tex.trim(), display, onError);
    return display && token.type === "mathBlock" ? `<div class="math-display">${html}</div>\n` : html;
  };
  return [
    {
      name: "mathBlock",
      level: "block",
      start: (src) => src.match(/^ {0,3}\$\$/m)?.index,
      tokenizer(src) {
        const m = BLOCK.exec(src);
        if (m) return { type: "mathBlock", raw: m[0], tex: m[1], display: true };
      },
      renderer: render,
    },
    {
      name: "mathInline",
      level: "inline",
      start: (src) => {
        const i = src.search(/(?<!\\)\$/);
        return i < 0 ? undefined : i;
      },
      tokenizer(src) {
        const display = INLINE_DISPLAY.exec(src);
        if (display) return { type: "mathInline", raw: display[0], tex: display[1], display: true };
        const m = INLINE.exec(src);
        if (m) return { type: "mathInline", raw: m[0], tex: m[1], display: false };
      },
      renderer: render,
    },
  ];
}
