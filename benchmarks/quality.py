"""Quality checks (not timed tests): MetaMMF against baselines, and meta against static fusion.

``--check tiktok`` (real data, ``../shared/data/tiktok``, fixed split): popularity, LightGCN and
MetaMMF trained by the same trainer; each model's learning rate is chosen on validation
Recall@20 from a small grid, then its test metrics at the best validation epoch are printed.

``--check fusion`` (SYNTHETIC TikTok stand-in, whose items trust different modalities by
construction): MetaMMF with ``fusion='meta-cp'`` against the same model with
``fusion='static'``, mean +- std of test metrics over ``--seeds`` seeds (data, split and
initialization all follow the seed).

    python benchmarks/quality.py --check tiktok|fusion [--seeds 3] [--scale 0.1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

from mmgraph.train import Experiment, resolve_config, train_run

SHARED_TIKTOK = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiktok"
GRID = {"lightgcn": [5e-3, 2e-2], "metammf": [5e-3, 2e-2]}


def fit(dataset, out, **options):
    _, m = train_run(resolve_config(dataset, **options), out, quiet=True)
    return m


def row(name, m, extra=""):
    t = m["test"]
    return (f"| {name} | {t['recall@10']:.4f} | {t['recall@20']:.4f} | {t['ndcg@10']:.4f} | "
            f"{t['ndcg@20']:.4f} | {t['precision@20']:.4f} | {extra} |")


def check_tiktok(out: Path, epochs: int) -> None:
    if not SHARED_TIKTOK.is_dir():
        raise SystemExit(f"{SHARED_TIKTOK} is absent: this check needs the real TikTok folder")
    base = {"data.root": str(SHARED_TIKTOK), "train.epochs": epochs, "train.patience": 8}
    print("TikTok (real, MMSSL re-sample, fixed split; 9,308 users x 6,710 items; visual + acoustic)")
    print("test metrics at the best validation epoch; learning rate chosen on validation Recall@20\n")
    print("| model | R@10 | R@20 | N@10 | N@20 | P@20 | selection |")
    print("|---|---|---|---|---|---|---|")
    exp = Experiment.build(resolve_config("tiktok", model="popularity", **{"data.root": str(SHARED_TIKTOK)}))
    t = exp.evaluate("test")
    print(f"| popularity | {t['recall@10']:.4f} | {t['recall@20']:.4f} | {t['ndcg@10']:.4f} | "
          f"{t['ndcg@20']:.4f} | {t['precision@20']:.4f} | - |")
    for model, lrs in GRID.items():
        runs = {}
        for lr in lrs:
            start = time.perf_counter()
            runs[lr] = fit("tiktok", out, model=model, **base, **{"train.lr": lr})
            runs[lr]["seconds"] = time.perf_counter() - start
        lr = max(runs, key=lambda k: runs[k]["valid"]["recall@20"])
        tried = ", ".join(f"lr {k:g}: valid R@20 {v['valid']['recall@20']:.4f}" for k, v in runs.items())
        print(row(model, runs[lr], f"lr {lr:g} ({tried}; {runs[lr]['seconds']:.0f} s)"), flush=True)


def check_fusion(out: Path, seeds: int, scale: float, epochs: int) -> None:
    print(f"SYNTHETIC TikTok stand-in (scale {scale}), items trust different modalities by construction;")
    print(f"MetaMMF design variant, test metrics at the best validation epoch, mean +- std over {seeds} seeds\n")
    print("| fusion | R@20 | N@20 | R@10 | N@10 | per seed R@20 |")
    print("|---|---|---|---|---|---|")
    for fusion in ("meta-cp", "static"):
        results = [fit("tiktok", out, **{"data.synthetic": True, "data.scale": scale, "model.fusion": fusion,
                                         "train.seed": seed, "train.epochs": epochs, "train.patience": 8,
                                         "train.lr": 5e-3})["test"] for seed in range(seeds)]
        cell = lambda key: (f"{statistics.mean(r[key] for r in results):.4f} +- "
                            f"{statistics.pstdev(r[key] for r in results):.4f}")
        print(f"| {fusion} | {cell('recall@20')} | {cell('ndcg@20')} | {cell('recall@10')} | {cell('ndcg@10')} | "
              + ", ".join(f"{r['recall@20']:.4f}" for r in results) + " |", flush=True)


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
        check_tiktok(args.out, args.epochs)
    else:
        check_fusion(args.out, args.seeds, args.scale, args.epochs)


if __name__ == "__main__":
    main()
