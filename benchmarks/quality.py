"""Quality checks (not timed tests): MetaMMF against baselines, and meta against static fusion.

``--check tiktok`` (real data, ``../shared/data/tiktok``, fixed split): popularity, LightGCN and
MetaMMF trained by the same trainer; each model's learning rate is chosen on mean validation
Recall@20 over ``--seeds`` seeds from a small grid, then the mean +- std of its test metrics at
the best validation epoch are printed.

``--check fusion`` (SYNTHETIC TikTok stand-in, whose items trust different modalities by
construction): MetaMMF with ``fusion='meta-cp'`` against the same model with
``fusion='static'``, mean +- std of test metrics over ``--seeds`` seeds (data, split and
initialization all follow the seed), once with a linear fusion (``fusion_hidden=[]``: one
weight set for every item against one per item) and once with the default hidden layer.

``--check probe`` (SYNTHETIC Kwai stand-in, no recommender): each fusion alone is trained to
regress the planted item factors from the standardized features, and its held-out R^2 is
printed; the per-item weighting the data was built to reward, measured directly.

    python benchmarks/quality.py --check tiktok|fusion|probe [--seeds 3] [--scale 0.1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

from mmgraph.runs.api import resolve_config, train_run
from mmgraph.runs.context import Experiment

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiktok"
GRID = {
    "lightgcn": [5e-3, 2e-2],
    "metammf": [5e-3, 2e-2],
}  # train.lr (networks: x network_lr_scale)


def fit(dataset, out, **options):
    _, m = train_run(resolve_config(dataset, **options), out, quiet=True)
    return m


def mean_std(results, split, key):
    values = [r[split][key] for r in results]
    return f"{statistics.mean(values):.4f} +- {statistics.pstdev(values):.4f}"


def row(name, results, extra=""):
    cells = " | ".join(
        mean_std(results, "test", k) for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
    )
    return f"| {name} | {cells} | {extra} |"


def check_tiktok(out: Path, epochs: int, seeds: int, root: Path) -> None:
    if not root.is_dir():
        raise SystemExit(f"{root} is absent: this check needs the real TikTok folder (--root DIR)")
    base = {"data.root": str(root), "train.epochs": epochs, "train.patience": 8}
    print(
        "TikTok (real, MMSSL re-sample, fixed split; 9,308 users x 6,710 items; visual + acoustic)"
    )
    print(
        f"test metrics at the best validation epoch, mean +- std over {seeds} seeds (initialization and "
        "negatives); learning rate chosen on mean validation Recall@20\n"
    )
    print("| model | R@10 | R@20 | N@10 | N@20 | selection |")
    print("|---|---|---|---|---|---|")
    exp = Experiment.build(resolve_config("tiktok", model="popularity", **{"data.root": str(root)}))
    print(row("popularity", [{"test": exp.evaluate("test")}], "-"))
    for model, lrs in GRID.items():
        runs = {}
        for lr in lrs:
            start = time.perf_counter()
            runs[lr] = [
                fit("tiktok", out, model=model, **base, **{"train.lr": lr, "train.seed": seed})
                for seed in range(seeds)
            ]
            print(
                f"  {model} lr {lr:g}: valid R@20 {mean_std(runs[lr], 'valid', 'recall@20')}, "
                f"{(time.perf_counter() - start) / seeds:.0f} s per run",
                file=sys.stderr,
                flush=True,
            )
        lr = max(runs, key=lambda k: statistics.mean(r["valid"]["recall@20"] for r in runs[k]))
        tried = ", ".join(
            f"lr {k:g}: valid R@20 {mean_std(v, 'valid', 'recall@20')}" for k, v in runs.items()
        )
        print(row(model, runs[lr], f"lr {lr:g} ({tried})"), flush=True)


def check_fusion(out: Path, seeds: int, scale: float, epochs: int) -> None:
    print(
        f"SYNTHETIC TikTok stand-in (scale {scale}), items trust different modalities by construction;"
    )
    print(
        f"MetaMMF design variant, default options but the fusion, test metrics at the best validation "
        f"epoch, mean +- std over {seeds} seeds\n"
    )
    print("| fusion | fusion layers | R@10 | R@20 | N@10 | N@20 | per seed R@20 |")
    print("|---|---|---|---|---|---|---|")
    for hidden in ([], [128]):
        for fusion in ("meta-cp", "static"):
            results = [
                fit(
                    "tiktok",
                    out,
                    **{
                        "data.synthetic": True,
                        "data.scale": scale,
                        "model.fusion": fusion,
                        "model.fusion_hidden": hidden,
                        "train.seed": seed,
                        "train.epochs": epochs,
                        "train.patience": 8,
                    },
                )
                for seed in range(seeds)
            ]
            layers = " -> ".join(map(str, ["3 x 64", *hidden, 32]))
            print(
                row(
                    f"{fusion} | {layers}",
                    results,
                    ", ".join(f"{r['test']['recall@20']:.4f}" for r in results),
                ),
                flush=True,
            )


def check_probe(scale: float, steps: int = 2000) -> None:
    import torch

    from mmgraph.data.synthetic import make_synthetic
    from mmgraph.nn import MetaFusion, StaticFusion

    rec = make_synthetic("kwai", scale=scale, seed=0)
    xs = {m: torch.from_numpy(x) for m, x in rec.features.items()}
    xs = {m: (x - x.mean(0)) / x.std(0) for m, x in xs.items()}
    q = torch.from_numpy(rec.planted["item_factors"])
    q = q / q.std()
    order = torch.randperm(q.size(0), generator=torch.Generator().manual_seed(0))
    train, test = order[: len(order) * 4 // 5], order[len(order) * 4 // 5 :]
    dims = {m: x.size(1) for m, x in xs.items()}
    print(
        f"SYNTHETIC Kwai stand-in (scale {scale}, {q.size(0):,} items, {dims}): each fusion regresses the "
        f"planted 32-d item factors from the features; held-out R^2 after {steps} Adam steps of 512 items\n"
    )
    print("| fusion | layers | held-out R^2 |")
    print("|---|---|---|")
    for hidden in ([], [128]):
        for name, make in (
            ("static", lambda hidden=hidden: StaticFusion(dims, 32, hidden)),
            ("meta-cp", lambda hidden=hidden: MetaFusion(dims, 32, hidden, mode="cp")),
            ("meta-full", lambda hidden=hidden: MetaFusion(dims, 32, hidden, mode="full")),
        ):
            torch.manual_seed(0)
            fusion = make()
            opt = torch.optim.Adam(fusion.parameters(), lr=3e-3)
            for _ in range(steps):
                rows = train[torch.randint(len(train), (512,))]
                loss = (fusion({m: x[rows] for m, x in xs.items()}) - q[rows]).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                fusion.eval()
                error = (fusion({m: x[test] for m, x in xs.items()}) - q[test]).pow(2).mean().item()
            print(
                f"| {name} | {' -> '.join(map(str, [sum(dims.values()), *hidden, 32]))} | {1 - error:.3f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", choices=["tiktok", "fusion", "probe"], required=True)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the real TikTok folder")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the data notes are in each run's log
    if args.check == "tiktok":
        check_tiktok(args.out, args.epochs, args.seeds, args.root)
    elif args.check == "fusion":
        check_fusion(args.out, args.seeds, args.scale, args.epochs)
    else:
        check_probe(args.scale)


if __name__ == "__main__":
    main()
