"""Dataset statistics, as ``python cli.py datasets info`` prints them."""

from __future__ import annotations

import numpy as np

from mmgraph.data.records import RecData


def _degree_stats(deg: np.ndarray) -> dict:
    return {
        "min": int(deg.min()),
        "median": float(np.median(deg)),
        "mean": float(deg.mean()),
        "max": int(deg.max()),
        "zero": int((deg == 0).sum()),
    }


def summarize(rec: RecData) -> dict:
    """Counts per split, density, modalities with dims, and training-degree summaries."""
    sizes = {s: int(rec.split(s).shape[1]) for s in ("train", "val", "test")}
    total = sum(sizes.values())
    dims = {m: int(x.shape[1]) for m, x in rec.features.items()}
    dims |= {m: f"bag of words, {b.num_words:,} words" for m, b in rec.bags.items()}
    return {
        "name": rec.name,
        "synthetic": rec.synthetic,
        "source": rec.source,
        "split": rec.split_protocol,
        "users": rec.num_users,
        "items": rec.num_items,
        "interactions": sizes | {"total": total},
        "in_files": dict(rec.file_counts) | {"total": sum(rec.file_counts.values())},
        "density": total / (rec.num_users * rec.num_items),
        "modalities": dims,
        "user_degree": _degree_stats(np.bincount(rec.train[0], minlength=rec.num_users)),
        "item_degree": _degree_stats(np.bincount(rec.train[1], minlength=rec.num_items)),
        "held_out_users": {s: int(np.unique(rec.split(s)[0]).size) for s in ("val", "test")},
        "cold_items": None if rec.cold_items is None else int(rec.cold_items.size),
        "notes": list(rec.notes),
    }


def _splits(n: dict) -> str:
    return f"{n['total']:,}  (train {n['train']:,} / valid {n['val']:,} / test {n['test']:,})"


def format_summary(info: dict) -> str:
    n = info["interactions"]
    label = "SYNTHETIC stand-in (not real data)" if info["synthetic"] else "read from files"
    dims = ", ".join(f"{m} {d}" for m, d in info["modalities"].items()) or "none"
    ud, idg = info["user_degree"], info["item_degree"]
    lines = [
        f"dataset        {info['name']}  [{label}]",
        f"source         {info['source']}",
        f"users          {info['users']:,}",
        f"items          {info['items']:,}",
        f"interactions   {_splits(info['in_files'])}"
        + (
            ""
            if info["in_files"] == n
            else f"  as stored\n               {_splits(n)}  used after the repairs below"
        ),
        f"split          {info['split']}",
        f"held-out users valid {info['held_out_users']['val']:,} / test {info['held_out_users']['test']:,}",
        f"density        {100 * info['density']:.4f}%",
        f"modalities     {dims}",
        f"user degree    min {ud['min']} / median {ud['median']:g} / mean {ud['mean']:.1f} / max {ud['max']}"
        f"  (train; {ud['zero']:,} users without training items)",
        f"item degree    min {idg['min']} / median {idg['median']:g} / mean {idg['mean']:.1f} / max {idg['max']}"
        f"  (train; {idg['zero']:,} items without training interactions)",
    ]
    if info.get("cold_items") is not None:
        lines.append(
            f"cold items     {info['cold_items']:,} (held out of training; test_cold ranks among them)"
        )
    lines += [f"repaired       {note}" for note in info["notes"]]
    return "\n".join(lines)
