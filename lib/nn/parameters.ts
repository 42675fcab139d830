import { Module } from "./module";

// Freezing is a flag on each parameter (tfjs's `trainable`, PyTorch's `requires_grad`):
// optimizers only receive the trainable ones, and gradients are never computed for the rest.

/** Stop training every parameter of the module (and its children). */
export function freeze(module: Module): void {
  for (const parameter of module.parameters()) parameter.trainable = false;
}

/** Train every parameter of the module (and its children) again. */
export function unfreeze(module: Module): void {
  for (const parameter of module.parameters()) parameter.trainable = true;
}

/** Number of parameter values, as sum(p.numel() for p in model.parameters() [if p.requires_grad]). */
export function countParameters(module: Module, options: { trainableOnly?: boolean } = {}): number {
  return module
    .parameters()
    .filter((parameter) => !options.trainableOnly || parameter.trainable)
    .reduce((total, parameter) => total + parameter.size, 0);
}
