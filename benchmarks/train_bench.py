"""Seconds per training epoch, seconds per full-ranking evaluation and peak memory, per model,
on the full-size synthetic stand-ins (Kwai, TikTok, MovieLens).

Each (dataset, model) runs in a fresh process: load the stand-in, build the model, train
``--epochs`` epochs (default 2) and evaluate the validation split ``--evals`` times; the row gives
the median epoch and evaluation times and the process's peak RSS (VmHWM; on CUDA also the
allocator's peak).  Data generation is not timed.

Models: ``metammf`` (design variant, defaults), ``metammf-paper`` (variant='paper-gcn' with the
released fusion stack 2276->1024->512->256->32 on MovieLens) and ``lightgcn``.

    python benchmarks/train_bench.py [--datasets kwai,tiktok,movielens] [--models ...] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time, torch
from mmgraph.runs import Experiment, resolve_config
from mmgraph.train import Trainer
from pathlib import Path
import tempfile
dataset, model, device, epochs, evals, batch = sys.argv[1:7]
name, variant = (model.split("-") + [None])[:2]
options = {"data.synthetic": True, "model": name, "train.device": device, "train.epochs": int(epochs),
           "train.batch_size": int(batch), "train.patience": 10**6}
if variant:
    options["model.variant"] = "paper-gcn"
exp = Experiment.build(resolve_config(dataset, **options))
with tempfile.TemporaryDirectory() as tmp:
    trainer = Trainer(exp, Path(tmp), quiet=True)
    epoch_s = []
    for e in range(1, int(epochs) + 1):
        t = time.perf_counter(); trainer.train_epoch(e)
        if exp.device.type == "cuda": torch.cuda.synchronize()
        epoch_s.append(time.perf_counter() - t)
    eval_s = []
    for _ in range(int(evals)):
        t = time.perf_counter(); m = exp.evaluate("valid")
        if exp.device.type == "cuda": torch.cuda.synchronize()
        eval_s.append(time.perf_counter() - t)
    trainer.close()
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
gpu = torch.cuda.max_memory_allocated() / 2**20 if exp.device.type == "cuda" else None
print(json.dumps({"epoch_s": epoch_s, "eval_s": eval_s, "peak_mb": peak, "gpu_mb": gpu,
                  "params": sum(p.numel() for p in exp.model.parameters()),
                  "steps": -(-exp.graph.edge_index.size(1) // int(batch)), "recall20": m["recall@20"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="kwai,tiktok,movielens")
    parser.add_argument("--models", default="metammf,metammf-paper,lightgcn")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--evals", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8192)
    args = parser.parse_args()
    print(
        f"SYNTHETIC full-size stand-ins, device {args.device}, batch {args.batch_size}; median of "
        f"{args.epochs} epochs and {args.evals} full-ranking evaluations (validation users, all items)\n"
    )
    print(
        "| dataset | model | params | steps/epoch | s / epoch | s / evaluation | peak RSS MiB | GPU peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            t = time.perf_counter()
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    dataset,
                    model,
                    args.device,
                    str(args.epochs),
                    str(args.evals),
                    str(args.batch_size),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                tail = (out.stderr.strip().splitlines() or ["?"])[-1]
                print(f"| {dataset} | {model} | failed: {tail} |||||||")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            gpu = f"{r['gpu_mb']:,.0f}" if r["gpu_mb"] is not None else "-"
            print(
                f"| {dataset} | {model} | {r['params']:,} | {r['steps']} | {statistics.median(r['epoch_s']):.1f} | "
                f"{statistics.median(r['eval_s']):.2f} | {r['peak_mb']:,.0f} | {gpu} |",
                flush=True,
            )
            print(
                f"  ({dataset}/{model}: {time.perf_counter() - t:.0f} s wall)",
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    main()
