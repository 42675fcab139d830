// The experiment command, bundled for the GPU machine (no Node.js there, no npm): see scripts/gpu/README.md.
// `node experiment.mjs check-dropout` instead checks the WebGPU dropout kernel against its reference;
// `node experiment.mjs pretrain ...` runs scripts/pretrain-mlm.ts, `node experiment.mjs grid-search ...`
// scripts/grid-search.ts.
import "./dirname-shim";
import { checkDropout } from "./check-dropout";

if (process.argv[2] === "check-dropout") {
  checkDropout().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else if (process.argv[2] === "pretrain") {
  process.argv.splice(2, 1);
  require("../pretrain-mlm");
} else if (process.argv[2] === "grid-search") {
  process.argv.splice(2, 1);
  require("../grid-search");
} else {
  require("../experiment");
}
