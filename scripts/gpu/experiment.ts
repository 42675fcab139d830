// The experiment command, bundled for the GPU machine (no Node.js there, no npm): see scripts/gpu/README.md.
// `node experiment.mjs check-dropout` instead checks the WebGPU dropout kernel against its reference.
import "./dirname-shim";
import { checkDropout } from "./check-dropout";

if (process.argv[2] === "check-dropout") {
  checkDropout().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  require("../experiment");
}
