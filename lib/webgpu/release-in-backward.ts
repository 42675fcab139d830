import * as tf from "@tensorflow/tfjs";
import { kernelOptions } from "./options";

// tfjs's backward pass (tape.ts's backpropagateGradients) keeps every gradient it computes, and
// every tensor the ops saved for it, until the whole pass is done: at a step's peak, the forward
// pass's saved tensors and every layer's gradients are alive together. PyTorch's autograd frees
// each as soon as the op that needs it has run, so its memory falls through the backward pass.
// Here the same, from outside the engine: the tape walks its nodes one at a time, last first, so
// when a node's gradient function is called, the node before it in the walk is done. Its output
// gradients (the dys it was given) and its saved tensors are freed then, except any tensor its
// gradient functions handed on as an input's gradient. What the last node holds, and everything
// outside the walk, the engine frees at the end of the pass as before. Inside a gradient of a
// gradient (the tape on while gradients() is called) nothing is freed early.

interface TapeNode {
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  addTapeNode(...args: unknown[]): void;
  gradients(...args: unknown[]): unknown;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

/** A node the walk has passed: what it was given and kept, and what its gradients handed on. */
interface Done {
  dys: Array<tf.Tensor | null>;
  saved: tf.Tensor[];
  handedOn: Set<tf.Tensor>;
}

let patched = false;
let walking = false; // inside a first-order gradients() call
let previous: Done | null = null;

function release(done: Done | null): void {
  if (done == null) return;
  for (const t of [...done.dys, ...done.saved]) if (t != null && !done.handedOn.has(t)) t.dispose();
}

/** Free each op's output gradients and saved tensors as soon as the backward pass is past it (idempotent). */
export function releaseInBackward(): void {
  if (patched) return;
  patched = true;
  const engine = tf.engine() as unknown as EngineInternals;

  const gradients = engine.gradients.bind(engine);
  engine.gradients = (...args: unknown[]) => {
    const firstOrder = engine.state.gradientDepth === 0 && kernelOptions().releaseInBackward;
    walking = firstOrder;
    previous = null;
    try {
      return gradients(...args);
    } finally {
      // The engine's own clean-up at the end of the pass has freed what the last node held.
      walking = false;
      previous = null;
    }
  };

  const addTapeNode = engine.addTapeNode.bind(engine);
  engine.addTapeNode = (...args: unknown[]) => {
    addTapeNode(...args);
    const tape = engine.state.activeTape;
    const node = tape?.[tape.length - 1];
    const gradient = node?.gradient;
    if (node == null || gradient == null) return;
    node.gradient = (dys) => {
      if (!walking) return gradient(dys);
      release(previous);
      const done: Done = { dys: [...dys], saved: node.saved ?? [], handedOn: new Set() };
      previous = done;
      const thunks = gradient(dys);
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [name, thunk] of Object.entries(thunks)) {
        wrapped[name] = () => {
          const dx = thunk();
          done.handedOn.add(dx);
          return dx;
        };
      }
      return wrapped;
    };
  };
}
