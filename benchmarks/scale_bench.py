"""Mini-batch training at scale: one epoch on a SYNTHETIC graph of 1M users x 1M items x 20M
interactions (features: 3 modalities x 64 dims, memory-mapped ``.npy``), on this machine.

The graph is random (power-law item popularity, Poisson user activity), generated once into
``--workdir`` and memory-mapped from there; its numbers say nothing about recommendation
quality, only about time and memory.  Each model runs in a fresh process through the trainer's
own epoch (``Trainer.train_epoch`` with ``train.sampler = "neighbor"``), then embeds the whole
graph without gradients (the first step of evaluation) and ranks all items for
``--eval-users`` users (evaluation time per 1k users; the full 1M-user evaluation is that
times 1,000).  The table gives time per 1M interactions, peak RSS (VmHWM, memory-mapped feature
pages included) and the extrapolation of the epoch to 1.66M and 100M interactions.

Models: ``metammf`` (design variant with one smoothing layer, so two hops: ``--fanout 10,10``)
and ``lightgcn`` (two layers).  ``--max-batches N`` stops the epoch early (the table says so).

    python benchmarks/scale_bench.py [--models metammf,lightgcn] [--users 1000000] [--items 1000000]
        [--interactions 20000000] [--batch-size 8192] [--negatives 5] [--fanout 10,10] [--max-batches 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODEL_ARGS = {"metammf": {"propagation_layers": 1}, "lightgcn": {"num_layers": 2}}

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, "benchmarks")  # run from the repository root
from _timing import peak, reset_peak
from mmgraph.models import RecGraph, build_model
from mmgraph.runs import Experiment
from mmgraph.train import Trainer
from mmgraph.train.config import RunConfig
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking
from mmgraph.train.neighbors import NeighborBatches

work, name, args, fanout, batch, max_batches, eval_users, device, negatives = sys.argv[1:10]
work, device = Path(work), torch.device(device)
meta = json.loads((work / "meta.json").read_text())
U, I = meta["users"], meta["items"]
edges = torch.from_numpy(np.load(work / "edges.npy"))
features = {m: torch.from_numpy(np.load(work / f"{m}.npy", mmap_mode="c")) for m in meta["modalities"]}
graph = RecGraph(U, I, edges.to(device), {m: x.to(device) for m, x in features.items()})
cfg = RunConfig(model=name, model_args=json.loads(args))
cfg.train.sampler, cfg.train.fanout, cfg.train.batch_size = "neighbor", [int(f) for f in fanout.split(",")], int(batch)
cfg.train.device, cfg.train.num_negatives = str(device), int(negatives)
torch.manual_seed(0)
model = build_model(name, graph, **cfg.model_args).to(device)
model.sparse_grads = True  # as Experiment.build sets it for train.sampler "neighbor"
t0 = time.perf_counter()
splits = {"train": UserItemSets(graph.edge_index, U, I)}
exp = Experiment(cfg, device, {"dataset": "scale", "synthetic": True, "split": "-"}, graph, model, splits,
                 neighbors=NeighborBatches(graph, cfg.train.fanout))
setup_s = time.perf_counter() - t0
max_batches = int(max_batches)
if max_batches:  # an early stop: the first max_batches batches of the epoch's permutation
    keep = torch.randperm(edges.size(1), generator=torch.Generator().manual_seed(1))[: max_batches * int(batch)]
    exp.graph = RecGraph(U, I, graph.edge_index[:, keep.to(device)], graph.features)
with tempfile.TemporaryDirectory() as tmp:
    trainer = Trainer(exp, quiet=True)
    reset_peak(device)
    t = time.perf_counter(); loss = trainer.train_epoch(1); epoch_s = time.perf_counter() - t
    trained = exp.graph.edge_index.size(1)
    exp.graph = graph
    model.eval()
    with torch.no_grad():
        t = time.perf_counter(); user, item = model(graph); embed_s = time.perf_counter() - t
        users = torch.randperm(U, generator=torch.Generator().manual_seed(2))[: int(eval_users)].to(device)
        held = UserItemSets(torch.stack([users, torch.randint(0, I, (users.numel(),), device=device)]), U, I)
        t = time.perf_counter()
        full_ranking(lambda b: model.full_scores(user, item, b), I, held, [splits["train"]], [20], 256)
        rank_s = time.perf_counter() - t
    trainer.close()
print(json.dumps({"trained": trained, "epoch_s": epoch_s, "loss": loss, "setup_s": setup_s,
                  "embed_s": embed_s, "rank_s_per_1k_users": rank_s / users.numel() * 1000,
                  "peak_mib": peak(device), "params": sum(p.numel() for p in model.parameters())}))
"""


def generate(
    work: Path, users: int, items: int, interactions: int, dim: int, seed: int = 0
) -> None:
    """Random interactions (item popularity ~ rank^-0.5, users uniform) and Gaussian features,
    written once as ``.npy`` files."""
    meta = {
        "users": users,
        "items": items,
        "interactions": interactions,
        "dim": dim,
        "modalities": ["visual", "acoustic", "textual"],
    }
    if (work / "meta.json").is_file() and json.loads((work / "meta.json").read_text()) == meta:
        return
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    u = rng.integers(0, users, int(interactions * 1.05))
    rank = (items * rng.random(u.size) ** 2).astype(np.int64)  # P(rank r) ~ r^-0.5
    i = rng.permutation(items)[np.minimum(rank, items - 1)]
    keys = np.unique(u * items + i)[:interactions]  # no repeated pairs
    rng.shuffle(keys)
    np.save(work / "edges.npy", np.stack([keys // items, keys % items]))
    for m in meta["modalities"]:
        out = np.lib.format.open_memmap(
            work / f"{m}.npy", mode="w+", dtype=np.float32, shape=(items, dim)
        )
        for start in range(0, items, 1 << 18):
            stop = min(items, start + (1 << 18))
            out[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32)
        out.flush()
        del out
    meta["interactions"] = int(keys.size)
    (work / "meta.json").write_text(json.dumps(meta))
    print(f"generated {keys.size:,} interactions in {time.perf_counter() - t:.0f} s into {work}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="metammf,lightgcn")
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--interactions", type=int, default=20_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8192)
    p.add_argument("--fanout", default="10,10")
    p.add_argument(
        "--negatives", type=int, default=5, help="negatives per positive (train.num_negatives)"
    )
    p.add_argument("--max-batches", type=int, default=0, help="0: the whole epoch")
    p.add_argument("--eval-users", type=int, default=2000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/mmgraph-scale"))
    args = p.parse_args()
    generate(args.workdir, args.users, args.items, args.interactions, args.dim)
    meta = json.loads((args.workdir / "meta.json").read_text())
    print(
        f"SYNTHETIC random graph: {meta['users']:,} users x {meta['items']:,} items x "
        f"{meta['interactions']:,} interactions, {len(meta['modalities'])} x {meta['dim']}-d "
        f"memory-mapped features; batch {args.batch_size}, {args.negatives} negative(s), fanout {args.fanout}, "
        f"device {args.device}"
    )
    rows = []
    for name in args.models.split(","):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(args.workdir),
                name,
                json.dumps(MODEL_ARGS[name]),
                args.fanout,
                str(args.batch_size),
                str(args.max_batches),
                str(args.eval_users),
                args.device,
                str(args.negatives),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-3000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        per_m = r["epoch_s"] / r["trained"] * 1e6
        rows.append(
            f"| {name} | {r['params']:,} | {r['trained']:,}"
            + ("" if r["trained"] >= meta["interactions"] else " (partial)")
            + f" | {r['epoch_s']:.0f} | {per_m:.1f} | {per_m * 1.66 / 60:.1f} | {per_m * 100 / 3600:.2f}"
            f" | {r['embed_s']:.1f} | {r['rank_s_per_1k_users']:.2f} | {r['peak_mib'] / 1024:.1f} |"
        )
        print(json.dumps({"model": name} | r))
    print(
        "\n| model | parameters | interactions trained | epoch s | s per 1M interactions "
        "| 1.66M epoch (min) | 100M epoch (h) | embed all, no grad (s) | rank s per 1k users | peak RSS GiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
