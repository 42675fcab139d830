/** Copies what the pages load into assets/: the book's stylesheet, KaTeX's CSS and fonts, plotly.js. */
import * as fs from "fs";
import * as path from "path";
import { ASSETS } from "./page";

function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`));
}

/** `plotly`: copy plotly.min.js (4.8 MB) only when some page draws a figure. */
export function copyAssets(siteDir: string, options: { plotly: boolean }): void {
  const copy = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(path.join(siteDir, to)), { recursive: true });
    fs.cpSync(from, path.join(siteDir, to), { recursive: true });
  };
  copy(path.join(__dirname, "book.css"), ASSETS.css);
  // katex.min.css finds its fonts at ./fonts/, next to it.
  const katexDist = path.join(packageDir("katex"), "dist");
  copy(path.join(katexDist, "katex.min.css"), ASSETS.katexCss);
  copy(path.join(katexDist, "fonts"), path.join(path.dirname(ASSETS.katexCss), "fonts"));
  if (options.plotly) copy(path.join(packageDir("plotly.js-dist-min"), "plotly.min.js"), ASSETS.plotly);
}
