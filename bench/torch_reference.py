#!/usr/bin/env python3
"""The reference side of bench/: PyTorch (+ PEFT for LoRA) training throughput of the tutorial's
modes at distilbert-base's shape, batch 12 x 512 tokens, random weights and ids, Adam 5e-5.
fp32 with TF32 off (the like-for-like row), and bf16 autocast (what PyTorch users would run).

    python3 bench/torch_reference.py --out torch.json
"""
import argparse
import json
import time

import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification
from peft import LoraConfig, get_peft_model

MODES = [("last-layers", None), ("lora-qv-r8", ["q_lin", "v_lin"]), ("lora-qv-mlp-r8", ["q_lin", "v_lin", "lin1", "lin2"]), ("full", None)]


def build(mode, targets):
    torch.manual_seed(1)
    model = DistilBertForSequenceClassification(DistilBertConfig())
    if mode == "last-layers":
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("pre_classifier") or name.startswith("classifier")
    elif targets:
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0))
    return model.cuda().train()


def training_step(mode, targets, precision, batch, seq):
    """A mode's model, Adam over what trains, one random batch, and a function running one training step on it."""
    model = build(mode, targets)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=5e-5)
    ids = torch.randint(1000, 30522, (batch, seq), device="cuda")
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (batch,), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return model, opt, params, step


def read_early(loss):
    """Start copying a step's loss to the host right after its kernels: a pinned buffer and an event."""
    host = torch.empty((), dtype=loss.dtype, pin_memory=True)
    host.copy_(loss, non_blocking=True)
    done = torch.cuda.Event()
    done.record()
    return host, done


def measure(mode, targets, precision, batch, seq, warmup, steps, early_reads=False):
    model, opt, params, step = training_step(mode, targets, precision, batch, seq)
    for _ in range(warmup):
        step().item()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    # Each step's loss is read back while the next one is queued, its copy queued right after its own
    # step, as the TypeScript trainer asks for its values. With --late-reads, .item() once the next
    # step is queued: its copy then waits for that step too (about 1% slower: results/benchmark/parity-rounds-gpu.json).
    previous = None
    for _ in range(steps):
        loss = step()
        if early_reads:
            loss = read_early(loss)
        if previous is not None:
            previous[1].synchronize() if early_reads else previous.item()
        previous = loss
    previous[1].synchronize() if early_reads else previous.item()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    row = {
        "mode": mode, "precision": precision, "trainable_params": sum(p.numel() for p in params),
        "samples_per_second": batch * steps / seconds, "step_ms": 1000 * seconds / steps,
        "peak_memory_bytes": torch.cuda.max_memory_allocated(), "early_reads": early_reads,
    }
    del model, opt
    torch.cuda.empty_cache()
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--late-reads", action="store_true", help="read each step's loss with .item() once the next step is queued")
    parser.add_argument("--modes", help="comma-separated, e.g. lora-qv-r8,full (default: all)")
    parser.add_argument("--precisions", default="fp32,bf16")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    modes = [(m, t) for m, t in MODES if not args.modes or m in args.modes.split(",")]
    rows = [measure(m, t, p, 12, 512, args.warmup, args.steps, not args.late_reads) for p in args.precisions.split(",") for m, t in modes]
    out = {"side": "PyTorch reference", "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": rows}
    json.dump(out, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
