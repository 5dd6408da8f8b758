"""Seconds per training epoch, seconds per full-ranking evaluation and peak memory, per model,
on the full-size synthetic stand-ins (Kwai, TikTok, MovieLens).

Each (dataset, model, mode) runs in a fresh process: load the stand-in, build the model, train
``--epochs`` epochs (default 2) and evaluate the validation split ``--evals`` times; the row gives
the median epoch and evaluation times, the process's peak RSS (VmHWM; on CUDA also the
allocator's peak) and, for the modes ``amp`` (bf16 autocast, ``train.amp``) and ``compile``
(``torch.compile``, ``train.compile``), the epoch-time speed-up over ``plain`` measured in the same
invocation.  The first epoch is left out of the median when there are more than two (it holds
compilation).  ``--sync-steps N`` adds, on CUDA, the number of host synchronizations per training
step over N steps after the timed epochs (``torch.cuda.set_sync_debug_mode``).  Data generation
is not timed.

Models: ``metammf`` (design variant, defaults), ``metammf-paper`` (variant='paper-gcn' with the
released fusion stack 2276->1024->512->256->32 on MovieLens) and ``lightgcn``.

    python benchmarks/train_bench.py [--datasets kwai,tiktok,movielens] [--models ...]
                                     [--device cpu] [--modes plain,amp,compile] [--sync-steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time, warnings, torch
from mmgraph.runs import Experiment, resolve_config
from mmgraph.train import Trainer
dataset, model, device, epochs, evals, batch, mode, sync_steps = sys.argv[1:9]
name, variant = (model.split("-") + [None])[:2]
options = {"data.synthetic": True, "model": name, "train.device": device, "train.epochs": int(epochs),
           "train.batch_size": int(batch), "train.patience": 10**6,
           "train.amp": mode == "amp", "train.compile": mode == "compile"}
if variant:
    options["model.variant"] = "paper-gcn"
exp = Experiment.build(resolve_config(dataset, **options))
cuda = exp.device.type == "cuda"
trainer = Trainer(exp, quiet=True)
epoch_s = []
for e in range(1, int(epochs) + 1):
    t = time.perf_counter(); trainer.train_epoch(e)
    if cuda: torch.cuda.synchronize()
    epoch_s.append(time.perf_counter() - t)
eval_s = []
for _ in range(int(evals)):
    t = time.perf_counter(); m = exp.evaluate("valid")
    if cuda: torch.cuda.synchronize()
    eval_s.append(time.perf_counter() - t)
syncs = None
if cuda and int(sync_steps):  # count the host synchronizations of whole training epochs
    steps = -(-exp.graph.edge_index.size(1) // int(batch))
    epochs_needed = -(-int(sync_steps) // steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        for e in range(epochs_needed):
            trainer.train_epoch(int(epochs) + 1 + e)
        torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchroniz" in str(w.message) for w in caught) / (epochs_needed * steps)
trainer.close()
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
gpu = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
print(json.dumps({"epoch_s": epoch_s[1:] if len(epoch_s) > 2 else epoch_s, "eval_s": eval_s,
                  "peak_mb": peak, "gpu_mb": gpu, "syncs": syncs,
                  "params": sum(p.numel() for p in exp.model.parameters()),
                  "steps": -(-exp.graph.edge_index.size(1) // int(batch)), "recall20": m["recall@20"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="kwai,tiktok,movielens")
    parser.add_argument("--models", default="metammf,metammf-paper,lightgcn")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", default="plain", help="plain, amp, compile (comma-separated)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--evals", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--sync-steps", type=int, default=0)
    args = parser.parse_args()
    modes = args.modes.split(",")
    if any(m not in ("plain", "amp", "compile") for m in modes):
        parser.error(f"--modes {args.modes}: use plain, amp and compile")
    print(
        f"SYNTHETIC full-size stand-ins, device {args.device}, batch {args.batch_size}; median of "
        f"{args.epochs} epochs and {args.evals} full-ranking evaluations (validation users, all items)\n"
    )
    print(
        "| dataset | model | mode | params | steps/epoch | s / epoch | x plain | s / evaluation "
        "| syncs / step | peak RSS MiB | GPU peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            plain = None
            for mode in modes:
                t = time.perf_counter()
                command = [sys.executable, "-c", CHILD, dataset, model, args.device]
                command += [str(args.epochs), str(args.evals), str(args.batch_size), mode]
                out = subprocess.run(
                    command + [str(args.sync_steps)], capture_output=True, text=True
                )
                if out.returncode:
                    tail = (out.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"| {dataset} | {model} | {mode} | failed: {tail} ||||||||")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                epoch = statistics.median(r["epoch_s"])
                plain = epoch if mode == "plain" else plain
                ratio = f"{plain / epoch:.2f}" if plain and mode != "plain" else "-"
                gpu = f"{r['gpu_mb']:,.0f}" if r["gpu_mb"] is not None else "-"
                syncs = f"{r['syncs']:.2f}" if r["syncs"] is not None else "-"
                print(
                    f"| {dataset} | {model} | {mode} | {r['params']:,} | {r['steps']} | {epoch:.2f} | "
                    f"{ratio} | {statistics.median(r['eval_s']):.3f} | {syncs} | {r['peak_mb']:,.0f} "
                    f"| {gpu} |",
                    flush=True,
                )
                print(
                    f"  ({dataset}/{model}/{mode}: {time.perf_counter() - t:.0f} s wall)",
                    file=sys.stderr,
                    flush=True,
                )


if __name__ == "__main__":
    main()
