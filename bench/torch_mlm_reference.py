#!/usr/bin/env python3
"""The reference side of `npm run pretrain`: the same masked-language-model pretraining in PyTorch +
transformers, on the same token cache, for the same minutes, so our tfjs run's loss curve and
throughput have a point of comparison made in the same run on the same GPU.

Same objective and settings as lib/train/mlm.ts: 15% of the real tokens chosen ([CLS], [SEP] and
padding never), 80% of those become [MASK], 10% a random id, 10% stay; AdamW (weight decay 0.01),
linear warm-up then a constant learning rate; the loss is the mean cross-entropy over chosen tokens.
Batches are drawn at random and padded to their longest review.

    python3 bench/torch_mlm_reference.py --cache datasets/cache/imdb/tokens/train-....bin \
        --dim 128 --layers 4 --heads 2 --hidden 512 --batch-size 128 --lr 1e-3 --warmup 500 \
        --minutes 6 --out models/mlm-mini-torch
"""
import argparse
import json
import os
import struct
import time

import numpy as np
import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM

MASK_ID, CLS_ID, SEP_ID, PAD_ID = 103, 101, 102, 0


def read_token_cache(path):
    """A token cache as lib/data/token-cache.ts writes it: (ids, offsets, labels, header)."""
    raw = open(path, "rb").read()
    if raw[:4] != b"LTOK":
        raise ValueError(f"{path}: not a token cache (magic {raw[:4]!r})")
    (header_length,) = struct.unpack_from("<I", raw, 4)
    header = json.loads(raw[8 : 8 + header_length].decode("utf8").rstrip("\x00 "))
    at = 8 + header_length
    at += (-at) % 4
    count, tokens = header["count"], header["tokens"]
    offsets = np.frombuffer(raw, dtype="<u4", count=count + 1, offset=at)
    at += 4 * (count + 1)
    id_type = "<u2" if header["idType"] == "uint16" else "<u4"
    ids = np.frombuffer(raw, dtype=id_type, count=tokens, offset=at)
    return ids, offsets, header


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--init", help="start from this Hugging Face folder's weights (a fresh optimizer)")
    parser.add_argument("--decay", action="store_true", help="after the warm-up, decay the learning rate linearly to 0 at --minutes")
    parser.add_argument("--checkpoint", help="a file holding the run's state: a run finding it there continues from it")
    args = parser.parse_args()

    ids, offsets, header = read_token_cache(args.cache)
    count, vocab = len(offsets) - 1, header["vocabSize"]
    lengths = np.diff(offsets.astype(np.int64))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    config = DistilBertConfig(vocab_size=vocab, dim=args.dim, n_layers=args.layers, n_heads=args.heads, hidden_dim=args.hidden, pad_token_id=PAD_ID)
    model = (DistilBertForMaskedLM.from_pretrained(args.init, dtype=torch.float32) if args.init else DistilBertForMaskedLM(config)).cuda().train()
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n)]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=args.lr)
    history, started, step, earlier_seconds = [], time.time(), 0, 0.0
    if args.checkpoint and os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, earlier_seconds, rng = state["step"], state["seconds"], state["rng"]
        history = [torch.tensor(x, device="cuda") for x in state["losses"]]
        print(f"continuing from {args.checkpoint}: step {step}", flush=True)
    while time.time() - started < args.minutes * 60:
        chosen = rng.choice(count, args.batch_size, replace=False)
        width = int(lengths[chosen].max())
        batch = np.full((args.batch_size, width), PAD_ID, dtype=np.int64)
        for row, i in enumerate(chosen):
            batch[row, : lengths[i]] = ids[offsets[i] : offsets[i + 1]]
        input_ids = torch.from_numpy(batch).cuda()
        attention = (input_ids != PAD_ID).long()
        special = (input_ids == PAD_ID) | (input_ids == CLS_ID) | (input_ids == SEP_ID)
        pick = (torch.rand(input_ids.shape, device="cuda") < 0.15) & ~special
        labels = torch.where(pick, input_ids, torch.full_like(input_ids, -100))
        r = torch.rand(input_ids.shape, device="cuda")
        masked = torch.where(pick & (r < 0.8), torch.full_like(input_ids, MASK_ID), input_ids)
        masked = torch.where(pick & (r >= 0.8) & (r < 0.9), torch.randint_like(input_ids, vocab), masked)
        for group in optimizer.param_groups:
            warm = min(1.0, (step + 1) / args.warmup) if args.warmup > 0 else 1.0
            left = max(0.0, 1.0 - (time.time() - started) / (args.minutes * 60)) if args.decay else 1.0
            group["lr"] = args.lr * min(warm, left)
        loss = model(input_ids=masked, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        history.append(loss.detach())
        if step % 200 == 0:
            values = torch.stack(history[-200:]).float().cpu().numpy()
            print(f"step {step}, {time.time() - started:.0f} s, loss {values.mean():.4f}", flush=True)
    seconds = time.time() - started + earlier_seconds
    losses = [round(float(x), 4) for x in torch.stack(history).float().cpu().numpy()]
    if args.checkpoint:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "seconds": seconds, "rng": rng, "losses": losses}, args.checkpoint + ".tmp")
        os.replace(args.checkpoint + ".tmp", args.checkpoint)
    model.save_pretrained(args.out)
    summary = {
        "what": "PyTorch + transformers reference of npm run pretrain: the same objective, data and settings",
        "torch": torch.__version__, "device": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "shape": {"dim": args.dim, "layers": args.layers, "heads": args.heads, "hidden": args.hidden},
        "settings": vars(args), "steps": step, "seconds": seconds, "steps_per_second": step / seconds,
        "last_100_steps_mean_loss": float(np.mean(losses[-100:])), "loss_by_step": losses,
    }
    json.dump(summary, open(f"{args.out}/pretraining-torch.json", "w"))
    print(f"{step} steps in {seconds:.0f} s ({step / seconds:.1f}/s), last loss {summary['last_100_steps_mean_loss']:.4f}")


if __name__ == "__main__":
    main()
