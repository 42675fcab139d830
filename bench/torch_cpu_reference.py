#!/usr/bin/env python3
"""The PyTorch side of the CPU benchmark (bench/combine-cpu.ts): training throughput of a small
DistilBERT-shaped classifier, the shape of `bench/train-step.ts --small` (dim 128, 2 layers of 2
heads, hidden 512, vocabulary 30,522, 512 positions), batch 12 x 128 random token ids, random
labels, cross-entropy, Adam 5e-5, in the modes of bench/modes.ts: "lora-qv-r8" (base frozen, LoRA
r=8, alpha=16 on q_lin and v_lin) and "full". The model is plain PyTorch, written out below with
the module names of DistilBertForSequenceClassification, so that nothing but the BLAS and
PyTorch's own kernels stand between it and ours.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_cpu_reference.py \
        --threads 2 --ours wasm.json --out torch.json

OpenBLAS picks its kernels from the CPU it detects; OPENBLAS_CORETYPE forces a core type and
OPENBLAS_L2_SIZE a cache size, so both are unset for the run. PyTorch calls whatever libblas.so.3
the dynamic linker finds (Debian's python3-torch: the reference BLAS unless an optimised one is
installed, or put first with LD_LIBRARY_PATH); the output names the library that was loaded.

--ours takes bench/train-step.ts's JSON: each mode's trainable parameter count must equal ours.
"""
import argparse
import ctypes
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import time

import torch
from torch import nn
import torch.nn.functional as F

# bench/train-step.ts --small: distilBertConfig({ dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512 })
# and distilbert-base's other values (lib/models/distilbert.ts).
SMALL = dict(vocab_size=30522, max_position_embeddings=512, dim=128, n_layers=2, n_heads=2, hidden_dim=512,
             dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2, num_labels=2, pad_token_id=0,
             initializer_range=0.02)

# bench/modes.ts BENCH_MODES with lib/train/experiment.ts prepareForMode: in LoRA mode every
# parameter of the model is frozen (the classifier head too) and only the LoRA factors train.
MODES = {"lora-qv-r8": ["q_lin", "v_lin"], "full": None}
LORA_RANK = 8
LORA_ALPHA = 16


class Embeddings(nn.Module):
    """Word and position embeddings, summed, then LayerNorm and dropout."""

    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["dim"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["dim"])
        self.LayerNorm = nn.LayerNorm(c["dim"], eps=1e-12)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.dropout(self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(positions)))


class SelfAttention(nn.Module):
    """Multi-head softmax attention; padding keys are masked out; dropout on the weights."""

    def __init__(self, c):
        super().__init__()
        self.n_heads = c["n_heads"]
        self.q_lin = nn.Linear(c["dim"], c["dim"])
        self.k_lin = nn.Linear(c["dim"], c["dim"])
        self.v_lin = nn.Linear(c["dim"], c["dim"])
        self.out_lin = nn.Linear(c["dim"], c["dim"])
        self.dropout = nn.Dropout(c["attention_dropout"])

    def forward(self, x, mask):
        b, t, dim = x.shape
        head_dim = dim // self.n_heads

        def split(y):  # [B, T, dim] -> [B, H, T, head_dim]
            return y.view(b, t, self.n_heads, head_dim).transpose(1, 2)

        q = split(self.q_lin(x) / math.sqrt(head_dim))  # scaled before the product, as transformers
        k = split(self.k_lin(x))
        v = split(self.v_lin(x))
        scores = q @ k.transpose(-1, -2)  # [B, H, T, T]
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, t), torch.finfo(scores.dtype).min)
        weights = self.dropout(scores.softmax(dim=-1))
        context = (weights @ v).transpose(1, 2).reshape(b, t, dim)
        return self.out_lin(context)


class FFN(nn.Module):
    """lin1 -> GELU (exact erf) -> lin2 -> dropout."""

    def __init__(self, c):
        super().__init__()
        self.lin1 = nn.Linear(c["dim"], c["hidden_dim"])
        self.lin2 = nn.Linear(c["hidden_dim"], c["dim"])
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x):
        return self.dropout(self.lin2(F.gelu(self.lin1(x))))


class TransformerBlock(nn.Module):
    """Post-norm: x = LN(x + attention(x)); x = LN(x + ffn(x))."""

    def __init__(self, c):
        super().__init__()
        self.attention = SelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)
        self.ffn = FFN(c)
        self.output_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)

    def forward(self, x, mask):
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(x) + x)


class DistilBertClassifier(nn.Module):
    """The encoder, then DistilBertForSequenceClassification's head on the first position:
    pre_classifier (dim -> dim), ReLU, dropout 0.2, classifier (dim -> labels)."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.layer = nn.ModuleList([TransformerBlock(c) for _ in range(c["n_layers"])])
        self.pre_classifier = nn.Linear(c["dim"], c["dim"])
        self.classifier = nn.Linear(c["dim"], c["num_labels"])
        self.dropout = nn.Dropout(c["seq_classif_dropout"])
        # transformers' _init_weights: N(0, 0.02) weights, zero biases, the padding row zero.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=c["initializer_range"])
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.embeddings.word_embeddings.weight[c["pad_token_id"]].zero_()

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        for block in self.layer:
            x = block(x, mask)
        pooled = self.dropout(F.relu(self.pre_classifier(x[:, 0])))
        return self.classifier(pooled)


class LinearWithLoRA(nn.Module):
    """A frozen Linear plus alpha * (x @ A @ B), as lib/lora/lora.ts with its default "alpha"
    scaling: A [in, r] from N(0, 1/r), B [r, out] zero, no dropout."""

    def __init__(self, linear, rank, alpha):
        super().__init__()
        self.linear = linear
        self.A = nn.Parameter(torch.randn(linear.in_features, rank) / math.sqrt(rank))
        self.B = nn.Parameter(torch.zeros(rank, linear.out_features))
        self.scale = alpha

    def forward(self, x):
        return self.linear(x) + self.scale * ((x @ self.A) @ self.B)


def build(mode):
    torch.manual_seed(1)
    model = DistilBertClassifier(SMALL)
    targets = MODES[mode]
    if targets:
        for p in model.parameters():
            p.requires_grad_(False)
        for block in model.layer:
            for name in targets:
                setattr(block.attention, name, LinearWithLoRA(getattr(block.attention, name), LORA_RANK, LORA_ALPHA))
    return model.train()


def measure(mode, batch, seq, warmup, steps):
    model = build(mode)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=5e-5)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, SMALL["vocab_size"], (batch, seq), generator=generator)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (batch,), generator=generator)

    def step():
        loss = F.cross_entropy(model(ids, mask), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # read back each step, as ours does

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    return {"mode": mode, "trainable_params": sum(p.numel() for p in params),
            "samples_per_second": batch * steps / seconds, "step_ms": 1000 * seconds / steps}


def matmul_gflops(n=1024, warmup=3, reps=15):
    """One n x n fp32 product at the set thread count: the BLAS's practical ceiling here."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(warmup):
        torch.mm(a, b)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"n": n, "reps": reps, "median_ms": 1000 * median, "gflops": 2 * n ** 3 / median / 1e9,
            "best_gflops": 2 * n ** 3 / min(times) / 1e9}


def loaded_libraries(pattern=r"blas|lapack|mkl|dnnl|gomp|iomp|libomp\."):
    """Shared libraries of this process whose file names match: the BLAS actually in use."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/" in line and re.search(pattern, line.split()[-1].rsplit("/", 1)[-1])}
    return sorted(paths)


def debian_package(path):
    try:
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True, check=True).stdout
        package = owner.split(":")[0]
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True).stdout
        return f"{package} {version}"
    except (OSError, subprocess.CalledProcessError):
        return None


def blas_info():
    """What PyTorch was built with (torch.__config__.show()) and the BLAS loaded at run time."""
    shown = torch.__config__.show()
    settings = dict(re.findall(r"(\w+)=([^,\n]*)", shown))
    build = {key: settings.get(key) for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP", "TORCH_VERSION")}
    build["lines"] = [line.strip(" -") for line in shown.splitlines() if re.search(r"BLAS|LAPACK|MKL|OpenMP|CPU capability", line) and "Build settings" not in line]
    torch.mm(torch.randn(64, 64), torch.randn(64, 64))  # the BLAS is loaded by now
    runtime = []
    name = None
    for path in loaded_libraries():
        entry = {"path": path, "file": os.path.realpath(path), "package": debian_package(path)}
        try:
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_config"):
                lib.openblas_get_config.restype = ctypes.c_char_p
                lib.openblas_get_corename.restype = ctypes.c_char_p
                entry["openblas_config"] = lib.openblas_get_config().decode()
                entry["openblas_core"] = lib.openblas_get_corename().decode()
                name = name or f"OpenBLAS ({entry['openblas_config'].split(' ')[1]}, {entry['openblas_core']} kernels)"
        except OSError:
            pass
        if name is None and entry["package"] and entry["package"].startswith("libblas3 "):
            name = f"reference BLAS (Netlib, Debian {entry['package']})"
        runtime.append(entry)
    return {"name": name or "unknown", "build": build, "loaded": runtime,
            "environment": {key: os.environ.get(key) for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "LD_LIBRARY_PATH")}}


def numpy_info():
    try:
        import numpy
    except ImportError:
        return None
    info = getattr(numpy.__config__, "blas_opt_info", None)
    return {"version": numpy.__version__, "blas_opt_info": info}


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--ours", help="bench/train-step.ts's JSON: trainable parameter counts must match")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours = None
    if args.ours:
        with open(args.ours) as f:
            ours = {row["mode"]: row["trainable_params"] for row in json.load(f)["rows"]}
    blas = blas_info()
    rows = []
    for mode in args.modes.split(","):
        if mode not in MODES:
            raise SystemExit(f"unknown mode {mode}: choose from {', '.join(MODES)}")
        row = measure(mode, args.batch, args.seq, args.warmup, args.steps)
        if ours is not None and mode in ours and ours[mode] != row["trainable_params"]:
            raise SystemExit(f"{mode}: {row['trainable_params']} trainable parameters here, {ours[mode]} in {args.ours}")
        print(json.dumps(row), flush=True)
        rows.append(row)
    matmul = matmul_gflops()
    print(f"1024 x 1024 fp32 matmul: {matmul['gflops']:.1f} GFLOP/s at {torch.get_num_threads()} threads ({blas['name']})")
    result = {"side": "pytorch", "torch_version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
              "numpy": numpy_info(), "machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "batch": args.batch, "seq": args.seq, "config": SMALL, "warmup": args.warmup, "steps": args.steps,
              "matmul_1024": matmul, "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
