"""Quality checks (not timed tests): MetaMMF against baselines, and meta against static fusion.

``--check tiktok`` (real data, ``../shared/data/tiktok``, fixed split): popularity, LightGCN and
MetaMMF trained by the same trainer; each model's learning rate is chosen on mean validation
Recall@20 over ``--seeds`` seeds from a small grid, then the mean +- std of its test metrics at
the best validation epoch are printed.

``--check fusion`` (SYNTHETIC TikTok stand-in, whose items trust different modalities by
construction): MetaMMF with ``fusion='meta-cp'`` against the same model with
``fusion='static'``, mean +- std of test metrics over ``--seeds`` seeds (data, split and
initialization all follow the seed).

    python benchmarks/quality.py --check tiktok|fusion [--seeds 3] [--scale 0.1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

from mmgraph.train import Experiment, resolve_config, train_run

SHARED_TIKTOK = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiktok"
GRID = {"lightgcn": [5e-3, 2e-2], "metammf": [5e-3, 2e-2]}  # train.lr (networks: x network_lr_scale)


def fit(dataset, out, **options):
    _, m = train_run(resolve_config(dataset, **options), out, quiet=True)
    return m


def mean_std(results, split, key):
    values = [r[split][key] for r in results]
    return f"{statistics.mean(values):.4f} +- {statistics.pstdev(values):.4f}"


def row(name, results, extra=""):
    cells = " | ".join(mean_std(results, "test", k) for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20"))
    return f"| {name} | {cells} | {extra} |"


def check_tiktok(out: Path, epochs: int, seeds: int) -> None:
    if not SHARED_TIKTOK.is_dir():
        raise SystemExit(f"{SHARED_TIKTOK} is absent: this check needs the real TikTok folder")
    base = {"data.root": str(SHARED_TIKTOK), "train.epochs": epochs, "train.patience": 8}
    print("TikTok (real, MMSSL re-sample, fixed split; 9,308 users x 6,710 items; visual + acoustic)")
    print(f"test metrics at the best validation epoch, mean +- std over {seeds} seeds (initialization and "
          "negatives); learning rate chosen on mean validation Recall@20\n")
    print("| model | R@10 | R@20 | N@10 | N@20 | selection |")
    print("|---|---|---|---|---|---|")
    exp = Experiment.build(resolve_config("tiktok", model="popularity", **{"data.root": str(SHARED_TIKTOK)}))
    print(row("popularity", [{"test": exp.evaluate("test")}], "-"))
    for model, lrs in GRID.items():
        runs = {}
        for lr in lrs:
            start = time.perf_counter()
            runs[lr] = [fit("tiktok", out, model=model, **base, **{"train.lr": lr, "train.seed": seed})
                        for seed in range(seeds)]
            print(f"  {model} lr {lr:g}: valid R@20 {mean_std(runs[lr], 'valid', 'recall@20')}, "
                  f"{(time.perf_counter() - start) / seeds:.0f} s per run", file=sys.stderr, flush=True)
        lr = max(runs, key=lambda k: statistics.mean(r["valid"]["recall@20"] for r in runs[k]))
        tried = ", ".join(f"lr {k:g}: valid R@20 {mean_std(v, 'valid', 'recall@20')}" for k, v in runs.items())
        print(row(model, runs[lr], f"lr {lr:g} ({tried})"), flush=True)


def check_fusion(out: Path, seeds: int, scale: float, epochs: int) -> None:
    print(f"SYNTHETIC TikTok stand-in (scale {scale}), items trust different modalities by construction;")
    print(f"MetaMMF design variant, default options, test metrics at the best validation epoch, "
          f"mean +- std over {seeds} seeds\n")
    print("| fusion | R@10 | R@20 | N@10 | N@20 | per seed R@20 |")
    print("|---|---|---|---|---|---|")
    for fusion in ("meta-cp", "static"):
        results = [fit("tiktok", out, **{"data.synthetic": True, "data.scale": scale, "model.fusion": fusion,
                                         "train.seed": seed, "train.epochs": epochs, "train.patience": 8})
                   for seed in range(seeds)]
        print(row(fusion, results, ", ".join(f"{r['test']['recall@20']:.4f}" for r in results)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", choices=["tiktok", "fusion"], required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the data notes are in each run's log
    if args.check == "tiktok":
        check_tiktok(args.out, args.epochs, args.seeds)
    else:
        check_fusion(args.out, args.seeds, args.scale, args.epochs)


if __name__ == "__main__":
    main()
