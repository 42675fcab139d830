"use strict";
/**
 * Preload for the book's tslab kernel: start in the project's root.
 *
 * Why: tslab compiles a cell as a file in the kernel's working folder and only compiles local
 * TypeScript imports under that folder (files outside it fail with "is not under 'rootDir'").
 * Jupyter starts a kernel in the notebook's folder (notebooks/), from which lib/ is outside. So the
 * kernel moves to the project's root, and the notebooks import the library as "./lib".
 */
const path = require("path");
process.chdir(path.resolve(__dirname, "..", ".."));
