"use strict";
/**
 * Preload for the tslab kernel: `node -r zmq-send-queue.cjs <tslab> kernel --config-path <file>`.
 *
 * Why: tslab (1.0.22) calls zeromq's `socket.send()` without awaiting it. zeromq 6 allows only one
 * send in flight per socket, and after 512 immediate sends in a row it defers the next one so as
 * not to starve the event loop (src/socket.cc, `max_sync_operations`). While that send waits, any
 * further `send()` throws "Socket is busy writing" synchronously: inside the cell's console.log,
 * then inside tslab's error report, then inside its `execute_reply`. A cell that prints more than
 * ~500 lines in one synchronous burst stops there and the kernel never replies or goes `idle`:
 * it hangs, under JupyterLab as well as under our runner.
 *
 * Fix: queue each socket's sends, so that a send starts only when the previous one on the same
 * socket has settled. zeromq's methods are read-only and its sockets sealed, so we redefine `send`
 * on the shared native `Socket.prototype` (the property is configurable) and keep each socket's
 * queue in a WeakMap. We patch whichever copy of zeromq gets loaded, by watching `require`.
 * Queuing alone is not enough: once the sends go through, a burst of thousands of messages meets
 * the iopub socket's high-water mark (1000) and ZeroMQ drops the excess, so we also lift that.
 *
 * Also: when LORA_KERNEL_PARENT_PID is set (our notebook runner sets it; Jupyter does not), the
 * kernel exits once that process is gone, so a crashed runner leaves no orphan kernel behind.
 */
const Module = require("module");

/** socket -> { pending: number of sends not yet settled, tail: promise of the last one } */
const queues = new WeakMap();
const patchedPrototypes = new WeakSet();

function patchZeromq(zmq) {
  const Socket = zmq && zmq.Socket;
  if (typeof Socket !== "function") return;
  const proto = Socket.prototype;
  if (patchedPrototypes.has(proto)) return;
  const desc = Object.getOwnPropertyDescriptor(proto, "send");
  if (!desc || typeof desc.value !== "function" || !desc.configurable) return;
  const send = desc.value;

  function queuedSend(message) {
    let q = queues.get(this);
    if (q === undefined) {
      q = { pending: 0, tail: Promise.resolve() };
      queues.set(this, q);
    }
    // Nothing in flight: send at once (the common case costs nothing extra).
    // Otherwise start only after the previous send on this socket has settled.
    const result =
      q.pending === 0
        ? callSend(send, this, message)
        : q.tail.then(() => send.call(this, message));
    q.pending += 1;
    const settled = result.then(
      () => {},
      () => {},
    );
    q.tail = settled;
    settled.then(() => {
      q.pending -= 1;
    });
    // tslab never awaits send(): mark the promise handled so a failed send (e.g. on a socket
    // closed at shutdown) does not become an unhandled rejection printed into a cell. Callers
    // that do await it still see the rejection.
    result.catch(() => {});
    return result;
  }

  Object.defineProperty(proto, "send", { ...desc, value: queuedSend });

  // A PUB socket silently drops messages once 1000 wait for a slow subscriber (ZMQ_SNDHWM), and
  // a burst of output can outrun the frontend: lines go missing, and so can the final `idle`
  // status, after which the frontend waits forever. No limit on iopub, as for the queue above.
  // Socket.prototype.bind is not configurable, but Publisher's own prototype is a plain JS class's.
  const Publisher = zmq.Publisher;
  if (typeof Publisher === "function" && Object.isExtensible(Publisher.prototype)) {
    const bind = proto.bind;
    Object.defineProperty(Publisher.prototype, "bind", {
      configurable: true,
      writable: false,
      enumerable: false,
      value: function bindWithoutDrops(address) {
        this.sendHighWaterMark = 0; // 0 = no limit; takes effect for binds made after it
        return bind.call(this, address);
      },
    });
  }
  patchedPrototypes.add(proto);
}

/** Calls send and always returns a promise, even if send throws synchronously. */
function callSend(send, socket, message) {
  try {
    return Promise.resolve(send.call(socket, message));
  } catch (err) {
    return Promise.reject(err);
  }
}

const originalLoad = Module._load;
Module._load = function loadAndPatch(request, parent, isMain) {
  const exported = originalLoad.apply(this, arguments);
  if (request === "zeromq" || request === "zeromq/v6" || /[\\/]zeromq[\\/]lib[\\/]index\.js$/.test(request)) {
    patchZeromq(exported);
  }
  return exported;
};

const parentPid = Number(process.env.LORA_KERNEL_PARENT_PID);
if (Number.isInteger(parentPid) && parentPid > 0) {
  // Don't let cells (or their child processes) inherit the variable.
  delete process.env.LORA_KERNEL_PARENT_PID;
  const timer = setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      process.exit(1);
    }
  }, 1000);
  timer.unref();
}

module.exports = { patchZeromq };
