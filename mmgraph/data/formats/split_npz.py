"""A fixed split stored without pickles: ``interactions.npz`` with per-split user / item arrays.

Keys ``train_user``, ``train_item``, ``{val,test}_{full,warm,cold}_{user,item}`` (0-based ids),
optionally ``shape`` = (users, items) — the layout of MMGCN's MovieLens graph with CLCRec's
warm / cold item split.  Feature files ``<modality>.npy`` (row = item id) are optional.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmgraph.data.formats.base import Format, source_files_by_suffix
from mmgraph.data.records import (
    RecData,
    as_int_ids,
    build_records,
    declared_shape,
    feature_rows,
    paired,
)
from mmgraph.data.safe_load import load_npy
from mmgraph.errors import DataError

HELD_OUT = ("full", "warm", "cold")


def is_split_npz_dir(root: Path) -> bool:
    path = root / "interactions.npz"
    if not path.exists():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "train_user" in z.files
    except Exception:  # unreadable: let the loader report it
        return False


def feature_paths(root: Path) -> dict[str, Path]:
    """``<modality>[_feat].npy`` files in ``root``, by modality."""
    return {p.stem.removesuffix("_feat"): p for p in sorted(root.glob("*.npy"))}


def load_split_npz(root: str | Path, name: str | None = None, *, held_out: str = "full") -> RecData:
    """Load the folder; ``held_out`` picks the ``full``, ``warm`` or ``cold`` validation / test sets."""
    root = Path(root)
    path = root / "interactions.npz"
    if held_out not in HELD_OUT:
        raise DataError(f"held_out must be one of {', '.join(HELD_OUT)}, got '{held_out}'")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read as .npz ({type(exc).__name__}: {exc}); re-create "
            "it with np.savez and plain numeric arrays"
        ) from exc
    keys = {"train": "train", "val": f"val_{held_out}", "test": f"test_{held_out}"}
    missing = [
        f"{k}_{part}"
        for k in keys.values()
        for part in ("user", "item")
        if f"{k}_{part}" not in arrays
    ]
    if missing:
        raise DataError(
            f"{path}: missing arrays {', '.join(missing)}; a split npz needs (user, item) "
            "arrays for train, validation and test"
        )
    pairs = {
        s: np.stack(paired(arrays[f"{k}_user"], arrays[f"{k}_item"], str(path), f"{k}_"))
        for s, k in keys.items()
    }
    paths = feature_paths(root)
    features = {m: load_npy(p) for m, p in paths.items()}
    rows = feature_rows(features, paths)
    shape = declared_shape(arrays.get("shape"), str(path))
    everything = as_int_ids(np.concatenate(list(pairs.values()), axis=1), str(path))
    num_users = shape[0] if shape else int(everything[0].max(initial=-1)) + 1
    num_items = shape[1] if shape else rows or int(everything[1].max(initial=-1)) + 1
    files = {s: f"{path} [{k}_*]" for s, k in keys.items()} | {m: str(p) for m, p in paths.items()}
    # the cold items: those of the cold held-out sets (CLCRec's cold_set), never trained on
    cold = [arrays[k] for k in ("val_cold_item", "test_cold_item") if k in arrays]
    cold = np.setdiff1d(np.concatenate(cold), pairs["train"][1]) if cold else None
    return build_records(
        name or root.name,
        num_users=num_users,
        num_items=num_items,
        train=pairs["train"],
        val=pairs["val"],
        test=pairs["test"],
        features=features,
        files=files,
        source=str(root),
        cold_items=cold,
        split_protocol=f"fixed split from the source files ({held_out} held-out sets)",
    )


FORMAT = Format(
    "split-npz",
    fixed_split=True,
    detect=is_split_npz_dir,
    source_files=source_files_by_suffix,
    feature_paths=feature_paths,
    read=lambda root, name, split, seed: load_split_npz(root, name),
)
