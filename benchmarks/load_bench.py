"""Load time and peak memory for a Kwai-size dataset in the MMGCN format: first and cached load.

Writes the synthetic Kwai stand-in (7,010 users, 86,483 items, 298,492 interactions, visual
2048-d + textual 100-d float32 features) as real MMGCN files (train.npy with item ids offset by
the user count, user_item_dict.npy, val_full.npy / test_full.npy object arrays, feat_v.pt,
feat_t.pt) into a temporary folder, then loads it in fresh processes:

* ``read features only``: torch.load of the two feature files, the floor any loader pays;
* ``first load``: parse + validate + hash + write the cache (cache emptied before each run);
* ``cached load``: hash the sources + read the cache entry (interactions) + the raw features;
* the same two with ``pca=64`` (scikit-learn PCA per modality, whose output the cache keeps).

Prints the median / min / max of ``--runs`` runs, peak RSS of the process (includes ~0.4 GB of
imports) and the ratio of medians against the features-only floor.

    python benchmarks/load_bench.py [--runs 5] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

CHILD = r"""
import json, sys, time
import torch
from mmgraph.data import load_records
root, mode = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if mode == "features":
    vis = torch.load(f"{root}/feat_v.pt", weights_only=True)
    txt = torch.load(f"{root}/feat_t.pt", weights_only=True)
    items = (vis.shape[0], {"visual": vis.shape[1], "textual": txt.shape[1]})
else:
    rec = load_records("kwai", root, pca=64 if mode == "pca" else None)
    items = (rec.num_items, {m: x.shape[1] for m, x in rec.features.items()})
elapsed = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "items": items}))
"""


def write_mmgcn(rec, root: Path) -> None:
    """Write ``rec`` (RecData) in the MMGCN on-disk format."""
    U = rec.num_users
    np.save(root / "train.npy", np.stack([rec.train[0], rec.train[1] + U], 1))
    d: dict[int, list[int]] = {}
    for u, i in rec.train.T.tolist():
        d.setdefault(u, []).append(i + U)
    np.save(root / "user_item_dict.npy", d, allow_pickle=True)
    for split, fname in (("val", "val_full.npy"), ("test", "test_full.npy")):
        pairs = rec.split(split)
        rows = np.empty(np.unique(pairs[0]).size, dtype=object)
        users, starts = np.unique(pairs[0], return_index=True)
        for k, (u, s, e) in enumerate(zip(users, starts, list(starts[1:]) + [pairs.shape[1]])):
            rows[k] = [int(u)] + (pairs[1, s:e] + U).tolist()
        np.save(root / fname, rows, allow_pickle=True)
    torch.save(torch.from_numpy(rec.features["visual"]), root / "feat_v.pt")
    torch.save(torch.from_numpy(rec.features["textual"]), root / "feat_t.pt")


def run_child(root: Path, mode: str, expected_items: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode], capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"load_bench: the {mode} run failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    dims = {"visual": 64, "textual": 64} if mode == "pca" else {"visual": 2048, "textual": 100}
    assert result["items"] == [expected_items, dims], result  # the load really produced features
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    from mmgraph.data import make_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="mmgraph-loadbench-"))
    try:
        rec = make_synthetic("kwai", scale=args.scale, seed=0)
        write_mmgcn(rec, tmp)
        size = sum(p.stat().st_size for p in tmp.iterdir()) / 2**20
        print(
            f"SYNTHETIC Kwai-size data in the MMGCN format: {rec.num_users:,} users, "
            f"{rec.num_items:,} items, {sum(rec.split(s).shape[1] for s in ('train', 'val', 'test')):,} "
            f"interactions, visual 2048 + textual 100; {size:,.0f} MiB on disk; {args.runs} runs each\n"
        )
        cases = {
            "read features only": "features",
            "first load": "load",
            "cached load": "load",
            "first load, --pca 64": "pca",
            "cached load, --pca 64": "pca",
        }
        results = {case: [] for case in cases}
        for _ in range(args.runs):  # interleaved, so drift of the machine hits every case alike
            for case, mode in cases.items():
                if case.startswith("first"):
                    shutil.rmtree(tmp / ".mmgraph_cache", ignore_errors=True)
                results[case].append(run_child(tmp, mode, rec.num_items))
        floor = statistics.median(r["seconds"] for r in results["read features only"])
        print("| case | median s | min s | max s | x features-only | peak RSS MiB (median) |")
        print("|---|---|---|---|---|---|")
        for case, runs in results.items():
            secs = [r["seconds"] for r in runs]
            med = statistics.median(secs)
            print(
                f"| {case} | {med:.2f} | {min(secs):.2f} | {max(secs):.2f} | {med / floor:.2f} | "
                f"{statistics.median(r['peak_mb'] for r in runs):,.0f} |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
