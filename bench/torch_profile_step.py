#!/usr/bin/env python3
"""Where PyTorch's training step spends the GPU's time: one step of a mode of bench/torch_reference.py
(fp32, TF32 off, batch 12 x 512), its CUDA kernels from torch.profiler grouped by name, the
counterpart of bench/profile-step.ts. Kernels here run back to back, as PyTorch queues them.

    python3 bench/torch_profile_step.py --modes lora-qv-r8,full --out torch-profile.json
"""
import argparse
import json
from collections import defaultdict
from datetime import datetime, timezone

import torch
from torch.profiler import ProfilerActivity, profile

from torch_reference import MODES, training_step


def profile_mode(mode, targets, batch, seq):
    model, opt, _, step = training_step(mode, targets, "fp32", batch, seq)
    for _ in range(3):
        step().item()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step().item()
        torch.cuda.synchronize()
    groups = defaultdict(lambda: {"count": 0, "us": 0.0})
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            g = groups[e.name[:120]]
            g["count"] += 1
            g["us"] += e.device_time
    rows = sorted(({"kernel": k, **v} for k, v in groups.items()), key=lambda r: -r["us"])
    total = sum(r["us"] for r in rows)
    del model, opt
    torch.cuda.empty_cache()
    print(f"{mode}: {total / 1000:.1f} ms of kernels, {sum(r['count'] for r in rows)} launches")
    for r in rows[:25]:
        print(f"  {r['us'] / 1000:8.3f} ms {r['count']:5d}x  {r['kernel'][:100]}")
    return {"mode": mode, "kernel_ms": total / 1000, "groups": rows}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--modes", default="lora-qv-r8")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    wanted = args.modes.split(",")
    results = [profile_mode(m, t, 12, 512) for m, t in MODES if m in wanted]
    out = {"side": "PyTorch reference", "backend": "cuda (PyTorch)", "device": torch.cuda.get_device_name(0), "date": datetime.now(timezone.utc).isoformat(), "torch": torch.__version__, "results": results}
    json.dump(out, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
