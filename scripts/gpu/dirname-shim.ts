// First import of every GPU bundle (see scripts/gpu/README.md): the bundles are ES modules, where
// CommonJS's __dirname does not exist, but lib/ uses it to find default folders. Point it at the bundle.
import * as path from "path";

const g = globalThis as { __dirname?: string; __filename?: string };
g.__filename ??= path.resolve(process.argv[1] ?? ".");
g.__dirname ??= path.dirname(g.__filename);
