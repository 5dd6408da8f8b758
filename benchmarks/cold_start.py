"""Cold-start items: Recall@20 / NDCG@20 on items never seen in training, ranked among the cold
items alone, for MetaMMF (its learned default ID vector, and the zero one) against content kNN,
LightGCN (ID embeddings only) and random ranking.

``--data synthetic``: the SYNTHETIC Kwai stand-in (``--scale``), a fifth of its items held out
of training (``--cold-items 0.2``: half validation, half test); data, split and initialization
follow each seed.

``--data movielens``: the REAL MovieLens graph with CLCRec's warm / cold item split
(``../shared/data/movielens_mmgcn_clcrec``: 55,485 users x 5,986 items, 867 cold items, fixed
split), paired with SYNTHETIC features at the paper's dims (visual 2048, acoustic 128, textual
100): each is a noisy random projection of 32 item factors from a truncated SVD of all 1.25M
interactions (the cold items' held-out ones included), with a different share of signal per
modality.  They stand in for informative content; the numbers say how each method uses such
content, nothing about real MovieLens trailers.  Seeds vary the initialization (and the
features' noise).

Trained models select their epoch on the validation cold items (``train.select_on=valid_cold``).

    python benchmarks/cold_start.py --data synthetic|movielens [--seeds 3] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mmgraph.runs.api import resolve_config, train_run
from mmgraph.runs.context import Experiment

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens_mmgcn_clcrec"
PAPER_DIMS = {"visual": 2048, "acoustic": 128, "textual": 100}
SIGNAL = {"visual": 0.3, "acoustic": 0.15, "textual": 0.5}  # share of latent signal per modality


def movielens_with_features(work: Path, seed: int, root: Path) -> Path:
    """``work/movielens-<seed>``: the real interactions.npz (linked) and the synthetic features."""
    from scipy.sparse import csr_matrix
    from sklearn.decomposition import TruncatedSVD

    folder = work / f"movielens-{seed}"
    if (folder / "textual.npy").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    source = root / "interactions.npz"
    with np.load(source, allow_pickle=False) as z:
        users = np.concatenate([z[k] for k in ("train_user", "val_full_user", "test_full_user")])
        items = np.concatenate([z[k] for k in ("train_item", "val_full_item", "test_full_item")])
        num_users, num_items = (int(v) for v in z["shape"])
    matrix = csr_matrix(
        (np.ones(items.size, np.float32), (items, users)), shape=(num_items, num_users)
    )
    factors = TruncatedSVD(32, random_state=seed).fit_transform(matrix)
    factors = (factors - factors.mean(0)) / factors.std(0)
    rng = np.random.default_rng(seed)
    for m, dim in PAPER_DIMS.items():
        r = SIGNAL[m]
        latent = np.sqrt(r) * factors + np.sqrt(1 - r) * rng.standard_normal(factors.shape)
        x = latent @ rng.standard_normal((32, dim)) / np.sqrt(32) + 0.5 * rng.standard_normal(
            (num_items, dim)
        )
        np.save(folder / f"{m}.npy", x.astype(np.float32))
    link = folder / "interactions.npz"
    if not link.exists():
        link.symlink_to(source)
    return folder


METHODS = {  # label -> (model, --set options); None: not trained
    "content kNN (k=50)": ("content-knn", ["k=50"]),
    "LightGCN (ID embeddings only)": ("lightgcn", []),
    "MetaMMF, zero default ID (id_dropout=0)": ("metammf", ["id_dropout=0"]),
    "MetaMMF, learned default ID (id_dropout=0.3)": ("metammf", ["id_dropout=0.3"]),
}


def run(
    data: str, seeds: int, epochs: int, scale: float, out: Path, work: Path, root: Path
) -> None:
    results: dict[str, list[dict]] = {label: [] for label in METHODS}
    cold_counts, seconds = set(), {label: [] for label in METHODS}
    for seed in range(seeds):
        if data == "synthetic":
            base = {"data.synthetic": True, "data.scale": scale, "data.cold_items": 0.2}
            name = "kwai"
        else:
            base = {"data.root": str(movielens_with_features(work, seed, root))}
            name = "movielens-clcrec"
        base |= {
            "train.seed": seed,
            "train.epochs": epochs,
            "train.select_on": "valid_cold",
            "train.patience": 5,
        }
        for label, (model, sets) in METHODS.items():
            t0 = time.perf_counter()
            cfg = resolve_config(name, model=model, sets=sets, **base)
            exp = Experiment.build(cfg)
            if exp.model.capabilities.trainable:
                _, m = train_run(cfg, out, quiet=True)
                cold, test = m["test_cold"], m["test"]
            else:
                cold, test = exp.evaluate("test_cold"), exp.evaluate("test")
            cold_counts.add(int(exp.graph.cold.sum()))
            results[label].append({"cold": cold, "test": test})
            seconds[label].append(time.perf_counter() - t0)
            print(
                f"seed {seed}  {label}: cold R@20 {cold['recall@20']:.4f}  all R@20 {test['recall@20']:.4f}  "
                f"({seconds[label][-1]:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    def cell(label, split, key):
        values = [r[split][key] for r in results[label]]
        return f"{statistics.mean(values):.4f} +- {statistics.pstdev(values):.4f}"

    title = (
        "SYNTHETIC Kwai stand-in (scale %g), 20%% of items cold" % scale
        if data == "synthetic"
        else "REAL MovieLens interactions (CLCRec warm/cold split) + SYNTHETIC features at the paper's dims"
    )
    print(f"\n{title}; mean +- std over {seeds} seeds; cold items: {sorted(cold_counts)}\n")
    print("| method | cold R@20 | cold N@20 | all-item test R@20 | seconds / run |")
    print("|---|---|---|---|---|")
    n = min(cold_counts)
    print(f"| random ranking (expected) | {20 / n:.4f} | - | - | - |")
    for label in METHODS:
        print(
            f"| {label} | {cell(label, 'cold', 'recall@20')} | {cell(label, 'cold', 'ndcg@20')} | "
            f"{cell(label, 'test', 'recall@20')} | {statistics.median(seconds[label]):.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", choices=["synthetic", "movielens"], required=True)
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="the MovieLens CLCRec folder"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.2, help="size of the synthetic stand-in")
    parser.add_argument("--out", type=Path, default=Path("/tmp/mmgraph-cold/runs"))
    args = parser.parse_args()
    if args.data == "movielens" and not args.root.is_dir():
        raise SystemExit(
            f"{args.root} is absent: this check needs the MovieLens CLCRec folder (--root DIR)"
        )
    warnings.filterwarnings("ignore", module="mmgraph")
    run(args.data, args.seeds, args.epochs, args.scale, args.out, args.out.parent, args.root)


if __name__ == "__main__":
    main()
