import * as tf from "@tensorflow/tfjs";
import { Module } from "./module";
import { indent } from "./print";

// Children of the containers live in numbered fields ("0", "1", ...), so `layers[0]` reads and
// `layers[0] = other` replaces, and the paths are "layer.0.attention" as in PyTorch checkpoints.

/** Modules held in a list, as torch.nn.ModuleList. */
export class ModuleList<T extends Module = Module> extends Module {
  static override typeName = "ModuleList";

  [index: number]: T;

  constructor(modules: Iterable<T> = []) {
    super();
    for (const module of modules) this.push(module);
  }

  get length(): number {
    return this.namedChildren().length;
  }

  push(module: T): void {
    this[this.length] = module;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const [, module] of this.namedChildren()) yield module as T;
  }

  forward(): tf.Tensor {
    throw new Error("ModuleList has no forward(): loop over its modules and call each one");
  }

  /** PyTorch's ModuleList.__repr__: runs of neighbours that print the same collapse to "(0-5): 6 x Block(". */
  override toString(): string {
    const reprs = this.namedChildren().map(([, child]) => child.toString());
    if (reprs.length === 0) return `${this.getName()}()`;
    const lines: string[] = [];
    let start = 0;
    while (start < reprs.length) {
      let end = start;
      while (end + 1 < reprs.length && reprs[end + 1] === reprs[start]) end++;
      const label = end === start ? `(${start}): ${reprs[start]}` : `(${start}-${end}): ${end - start + 1} x ${reprs[start]}`;
      lines.push(indent(label, 2));
      start = end + 1;
    }
    return `${this.getName()}(\n  ` + lines.join("\n  ") + "\n)";
  }
}

/** Modules applied one after another, as torch.nn.Sequential. */
export class Sequential extends Module {
  static override typeName = "Sequential";

  [index: number]: Module;

  constructor(...modules: Module[]) {
    super();
    modules.forEach((module, i) => (this[i] = module));
  }

  forward(x: tf.Tensor): tf.Tensor {
    for (const module of this.children()) x = module.forward(x);
    return x;
  }
}
