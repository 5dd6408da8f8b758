"""The MetaMMF fusion ablation: does an item-specific fusion beat a static one?

Arms, all the design variant with the package defaults except the fusion:

* ``meta-cp``: the default, rank-16 CP meta layers (64 x modalities -> 128 -> 32);
* ``meta-full``: the full meta tensor at the same widths;
* ``static``: one fusion network for every item at the same depth (-> 128 -> 32);
* ``static-linear``: one linear map for every item (-> 32);
* ``no-content``: no fused vector at all (``fused_dim=0``): ID embeddings and the graph only.

Each arm's learning rate is chosen from ``--lrs`` on mean validation Recall@20 over ``--seeds``
seeds; only the selected runs are then tested, at their selected epoch.  The table gives test
mean +- std over seeds, each arm's dynamic share (mean over items of ||h_i ΔW_i|| / ||h_i W||,
per meta layer) at the selected epoch, and paired per-user tests of ``meta-cp`` against every
other arm (:func:`mmgraph.eval.significance.paired_test`): per seed, and pooled, with users
averaged over seeds when the data is fixed (real TikTok) or as (seed, user) pairs when the data
follows the seed (SYNTHETIC).

Every finished run is appended to ``OUT/runs.jsonl`` at once, so ``--resume`` (the same
command again) continues where a stopped ablation left off; ``OUT/table.md`` and
``OUT/results.json`` are rewritten at the end.

    python benchmarks/ablation.py --data tiktok --out runs/ablation-tiktok        # real TikTok
    python benchmarks/ablation.py --data synthetic --out runs/ablation-synthetic  # planted stand-in
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mmgraph.eval.significance import paired_test, pool_users
from mmgraph.report.comparison import SIGNIFICANCE, mean_std
from mmgraph.runs.api import resolve_config, train_run
from mmgraph.runs.compare import tested
from mmgraph.utils.io import atomic_write_text

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiktok"
ARMS = {
    "meta-cp": {"model.fusion": "meta-cp"},
    "meta-full": {"model.fusion": "meta-full"},
    "static": {"model.fusion": "static"},
    "static-linear": {"model.fusion": "static", "model.fusion_hidden": []},
    "no-content": {"model.fusion": "static", "model.fused_dim": 0},
}
METRICS = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
PER_USER = SIGNIFICANCE  # the metrics tested per user


def data_options(args) -> dict:
    if args.data == "tiktok":
        if not args.root.is_dir():
            raise SystemExit(
                f"{args.root} is absent: --data tiktok needs the real TikTok folder (--root DIR)"
            )
        return {"data.root": str(args.root)}
    return {"data.synthetic": True, "data.scale": args.scale}


def read_done(path: Path) -> dict[tuple, dict]:
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["arm"], r["lr"], r["seed"])] = r
    return done


def train_all(args, out: Path) -> dict[tuple, dict]:
    log = out / "runs.jsonl"
    done = read_done(log)
    base = data_options(args) | {"train.epochs": args.epochs}
    todo = [(arm, lr, seed) for arm in args.arms for lr in args.lrs for seed in range(args.seeds)]
    for n, (arm, lr, seed) in enumerate(todo, 1):
        if (arm, lr, seed) in done:
            continue
        cfg = resolve_config("tiktok", **(base | ARMS[arm] | {"train.lr": lr, "train.seed": seed}))
        t0 = time.perf_counter()
        run_dir, m = train_run(cfg, out / "runs", quiet=True, test=False)
        record = {
            "arm": arm,
            "lr": lr,
            "seed": seed,
            "run_dir": str(run_dir),
            "valid": m["valid"],
            "selected_epoch": m["selected_epoch"],
            "diagnostics": m.get("diagnostics"),
            "epochs": len(m["history"]),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        with open(
            log, "a", encoding="utf-8"
        ) as f:  # one line per finished run: --resume reads them
            f.write(json.dumps(record) + "\n")
        done[(arm, lr, seed)] = record
        print(
            f"[{n}/{len(todo)}] {arm} lr={lr} seed={seed}: valid R@20 {m['valid']['recall@20']:.4f} at epoch "
            f"{m['selected_epoch']}, {record['seconds']:.0f} s",
            flush=True,
        )
    return done


def test_selected(args, out: Path, done: dict) -> dict:
    """Per arm: the lr chosen on mean validation R@20, then the test split of its runs, per user."""
    results = {}
    for arm in args.arms:
        valid = {
            lr: statistics.mean(done[(arm, lr, s)]["valid"]["recall@20"] for s in range(args.seeds))
            for lr in args.lrs
        }
        lr = max(valid, key=valid.get)
        runs = []
        for seed in range(args.seeds):
            record = done[(arm, lr, seed)]
            test = tested(record["run_dir"])["test"]  # cached in the run folder
            per_user = dict(np.load(Path(record["run_dir"]) / "test_per_user.npz"))
            runs.append(record | {"test": test, "per_user": per_user})
        results[arm] = {"lr": lr, "valid_by_lr": valid, "runs": runs}
    return results


def significance(results: dict, reference: str, synthetic: bool) -> dict:
    out = {}
    ref = results[reference]["runs"]
    for arm, r in results.items():
        if arm == reference:
            continue
        out[arm] = {}
        for key in PER_USER:
            per_seed = []
            for a, b in zip(ref, r["runs"]):
                assert np.array_equal(a["per_user"]["users"], b["per_user"]["users"])
                per_seed.append(paired_test(a["per_user"][key], b["per_user"][key]))
            # (seed, user) pairs when the data follows the seed, else each user's mean over seeds
            pooled = paired_test(
                pool_users([a["per_user"] for a in ref], key, synthetic)[1],
                pool_users([b["per_user"] for b in r["runs"]], key, synthetic)[1],
            )
            out[arm][key] = {"pooled": pooled, "per_seed": per_seed}
    return out


def table(args, results: dict, tests: dict, wall: float, synthetic: bool) -> str:
    what = (
        "real TikTok (MMSSL re-sample, 9,308 users x 6,710 items, visual + acoustic, fixed split)"
        if not synthetic
        else f"SYNTHETIC TikTok stand-in, scale {args.scale} (planted item-specific modality "
        "reliability; data, split and initialization follow the seed)"
    )
    lines = [
        f"# MetaMMF fusion ablation on {what}",
        "",
        f"Design variant, package defaults except the fusion; lr chosen from {args.lrs} on mean validation "
        f"Recall@20 over {args.seeds} seeds; test at the selected epoch (at most {args.epochs} epochs), "
        "mean +- std over seeds. Dynamic share: mean over items of ||h_i dW_i|| / ||h_i W|| per meta layer at "
        f"the selected epoch (mean over seeds). Wall time of the whole ablation: {wall / 60:.0f} min.",
        "",
        "| fusion | lr | "
        + " | ".join(m.replace("recall", "R").replace("ndcg", "N") for m in METRICS)
        + " | dynamic share | R@20 minus meta-cp, p (t / Wilcoxon) |",
        "|---|---|" + "---|" * (len(METRICS) + 2),
    ]
    for arm, r in results.items():
        shares = [
            run["diagnostics"]["dynamic_share"] for run in r["runs"] if run.get("diagnostics")
        ]
        share = "/".join(f"{statistics.mean(v):.3f}" for v in zip(*shares)) if shares else "-"
        sig = "-"
        if arm in tests:
            p = tests[arm]["recall@20"]["pooled"]
            sig = f"{-p['mean_diff']:+.4f}, {p['t_p']:.2g} / {p['wilcoxon_p']:.2g}"
        cells = mean_std(r["runs"], "test", METRICS)
        lines.append(
            f"| {arm} | {r['lr']} | "
            + " | ".join(f"{cells[m][0]:.4f} +- {cells[m][1]:.4f}" for m in METRICS)
            + f" | {share} | {sig} |"
        )
    lines += [
        "",
        "Per seed (test R@20; p of the paired Wilcoxon test against meta-cp):",
        "",
        "| fusion | " + " | ".join(f"seed {s}" for s in range(args.seeds)) + " |",
        "|---|" + "---|" * args.seeds,
    ]
    for arm, r in results.items():
        cells = []
        for s, run in enumerate(r["runs"]):
            extra = (
                f" (p {tests[arm]['recall@20']['per_seed'][s]['wilcoxon_p']:.2g})"
                if arm in tests
                else ""
            )
            cells.append(f"{run['test']['recall@20']:.4f}{extra}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", choices=["tiktok", "synthetic"], default="tiktok")
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="the real TikTok folder (--data tiktok)"
    )
    parser.add_argument("--scale", type=float, default=0.05, help="SYNTHETIC stand-in scale")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--lrs", type=lambda s: [float(v) for v in s.split(",")], default=[0.005, 0.02]
    )
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--arms", type=lambda s: s.split(","), default=list(ARMS))
    parser.add_argument(
        "--out", type=Path, required=True, help="results folder; an existing one is resumed"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown:
        raise SystemExit(f"--arms: unknown {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data notes repeat for every run
        done = train_all(args, args.out)
        t0 = time.perf_counter()
        results = test_selected(args, args.out, done)
    synthetic = args.data == "synthetic"
    tests = (
        significance(results, "meta-cp", synthetic)
        if "meta-cp" in results and len(results) > 1
        else {}
    )
    wall = sum(r["seconds"] for r in done.values()) + time.perf_counter() - t0  # training + testing
    text = table(args, results, tests, wall, synthetic)
    strip = {
        arm: {**r, "runs": [{k: v for k, v in run.items() if k != "per_user"} for run in r["runs"]]}
        for arm, r in results.items()
    }
    atomic_write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": strip,
                "significance": tests,
            },
            indent=1,
        ),
        args.out / "results.json",
    )
    atomic_write_text(text, args.out / "table.md")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
