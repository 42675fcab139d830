import * as tf from "@tensorflow/tfjs";
import { indent } from "./print";

/**
 * A node of the model tree, as torch.nn.Module.
 *
 * The tree is the object's own fields: a field that holds a Module is a child, a field that
 * holds a tf.Variable is a parameter, in the order the fields were first set. So replacing a
 * child is plain assignment, as with PyTorch's __setattr__:
 *
 *   block.attention.q_lin = new LinearWithLoRA(block.attention.q_lin, 8, 16);
 *
 * keeps its place in the tree, in namedParameters() and in print(model).
 * Freezing is a flag on each parameter: `variable.trainable` plays `requires_grad`.
 *
 * Each subclass names itself for print(model) with a static field, as PyTorch prints the class's
 * __name__:
 *
 *   class Linear extends Module {
 *     static override typeName = "Linear";
 *
 * The name is written out rather than read from the class because bundlers and minifiers rename
 * classes, and print(model) must read the same wherever the code runs.
 */
export abstract class Module {
  /** The name print(model) shows for this class; every subclass sets its own. */
  static typeName = "Module";

  /** Train mode turns dropout on; eval mode turns it off. */
  training = true;

  abstract forward(...inputs: tf.Tensor[]): tf.Tensor;

  /** The name print(model) shows for this module (PyTorch's _get_name()): its class's typeName. */
  getName(): string {
    return typeNameOf(this.constructor as typeof Module);
  }

  /** Direct children, in the order they were assigned. */
  namedChildren(): [string, Module][] {
    return Object.entries(this).filter((entry): entry is [string, Module] => entry[1] instanceof Module);
  }

  children(): Module[] {
    return this.namedChildren().map(([, child]) => child);
  }

  /** This module's own parameters, without its children's. */
  namedOwnParameters(): [string, tf.Variable][] {
    return Object.entries(this).filter((entry): entry is [string, tf.Variable] => entry[1] instanceof tf.Variable);
  }

  /** Every module of the tree, this one first (named ""), depth first, as PyTorch's named_modules(). */
  namedModules(prefix = ""): [string, Module][] {
    const result: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      result.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return result;
  }

  /** Every parameter with its dotted path ("distilbert.embeddings.word_embeddings.weight"); a shared one once. */
  namedParameters(prefix = ""): [string, tf.Variable][] {
    const seen = new Set<tf.Variable>();
    const result: [string, tf.Variable][] = [];
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, parameter] of module.namedOwnParameters()) {
        if (seen.has(parameter)) continue;
        seen.add(parameter);
        result.push([path ? `${path}.${name}` : name, parameter]);
      }
    }
    return result;
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, parameter]) => parameter);
  }

  /** Whether any parameter of the tree has `trainable` set: without building names, cheap enough to ask at every step. */
  hasTrainableParameters(): boolean {
    return this.namedOwnParameters().some(([, parameter]) => parameter.trainable) || this.namedChildren().some(([, child]) => child.hasTrainableParameters());
  }

  /** The parameters an optimizer should update: those with `trainable` set. */
  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((parameter) => parameter.trainable);
  }

  /** The module at a dotted path, as PyTorch's get_submodule("transformer.layer.0.attention"). */
  getSubmodule(path: string): Module {
    if (path === "") return this;
    let module: Module = this;
    for (const name of path.split(".")) {
      const child = module.namedChildren().find(([childName]) => childName === name);
      if (!child) throw new Error(`${module.getName()} has no child module "${name}" (in path "${path}")`);
      module = child[1];
    }
    return module;
  }

  /** Replace the module at a dotted path; the path must already name a module. */
  setSubmodule(path: string, module: Module): void {
    const dot = path.lastIndexOf(".");
    const parent = this.getSubmodule(dot < 0 ? "" : path.slice(0, dot));
    const name = path.slice(dot + 1);
    if (!parent.namedChildren().some(([childName]) => childName === name)) {
      throw new Error(`${parent.getName()} has no child module "${name}" to replace (path "${path}")`);
    }
    (parent as unknown as Record<string, Module>)[name] = module;
  }

  /** Set train mode (dropout on) or eval mode here and in every child. */
  train(mode = true): this {
    for (const [, module] of this.namedModules()) module.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Free every parameter's GPU/WASM memory. The module cannot be used afterwards. */
  dispose(): void {
    for (const parameter of this.parameters()) parameter.dispose();
  }

  /** The text inside this module's parentheses in print(model), e.g. "in_features=768, out_features=768, bias=True". */
  extraRepr(): string {
    return "";
  }

  /** Exactly PyTorch's Module.__repr__. */
  toString(): string {
    const extraLines = this.extraRepr() === "" ? [] : this.extraRepr().split("\n");
    const childLines = this.namedChildren().map(([name, child]) => `(${name}): ${indent(child.toString(), 2)}`);
    const lines = [...extraLines, ...childLines];
    let body = "";
    if (extraLines.length === 1 && childLines.length === 0) body = extraLines[0];
    else if (lines.length > 0) body = "\n  " + lines.join("\n  ") + "\n";
    return `${this.getName()}(${body})`;
  }
}

/**
 * A class's own typeName. A subclass that sets none would otherwise print as its parent, silently:
 * it prints as `<subclass of Linear without typeName>` instead, naming the nearest ancestor that
 * sets one (Module at the latest), so the missing name shows in print(model) itself.
 */
function typeNameOf(type: typeof Module): string {
  if (Object.hasOwn(type, "typeName")) return type.typeName;
  let ancestor = Object.getPrototypeOf(type) as typeof Module;
  while (ancestor !== Module && !Object.hasOwn(ancestor, "typeName")) ancestor = Object.getPrototypeOf(ancestor) as typeof Module;
  return `<subclass of ${ancestor.typeName} without typeName>`;
}

/** print(model): the module tree as PyTorch prints it. */
export function printModel(module: Module): string {
  return module.toString();
}

/** Whether `module` is an instance of `type` itself, not of a subclass (whose forward may compute something else). */
export function isExactly<T extends object>(module: object, type: abstract new (...args: never[]) => T): module is T {
  return Object.getPrototypeOf(module) === type.prototype;
}
