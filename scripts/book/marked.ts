/**
 * marked, loaded so that both tsx and Jest can use it.
 *
 * marked 18's package exports only an ES module, which Jest on Node 20 cannot `require`. The
 * package also ships the same code as a UMD bundle (lib/marked.umd.js); we load that by path.
 */
import * as path from "path";
import type * as MarkedModule from "marked";

const umdBundle = path.join(path.dirname(require.resolve("marked/package.json")), "lib", "marked.umd.js");

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const { Marked } = require(umdBundle) as typeof MarkedModule;
export type { MarkedExtension, Tokens, TokenizerAndRendererExtension } from "marked";
