"""Any interaction log: a CSV / TSV / npz of (user, item[, timestamp]) plus feature ``.npy`` files.

Raw ids of any type are remapped to contiguous integers and the maps are kept in
``RecData.user_ids`` / ``item_ids``.  Feature row ``r`` belongs to the item whose raw id is ``r``
(integer ids), or to line ``r`` of an ``item_index`` text file.  The split is per user: seeded
random 80/10/10 (MetaMMF's protocol) or temporal when timestamps exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mmgraph.data.formats.base import Format, source_files_by_suffix
from mmgraph.data.formats.split_npz import feature_paths
from mmgraph.data.records import RecData, build_records, feature_rows, paired
from mmgraph.data.safe_load import load_npy
from mmgraph.data.splits import cold_item_split, describe_split, split_per_user
from mmgraph.data.tables import ids_column, read_table, to_times
from mmgraph.errors import DataError

USER_NAMES = ("user", "user_id", "userid", "uid", "u")
ITEM_NAMES = ("item", "item_id", "itemid", "iid", "i", "movie_id", "movieid", "video_id")
TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date")
NPZ_KEYS = {
    "user": ("user", "users", "user_id", "userID"),
    "item": ("item", "items", "item_id", "itemID"),
    "time": ("timestamp", "time", "ts"),
}


def read_npz_pairs(path: Path):
    """``(users, items, timestamps or None, shape or None)`` from an npz (no pickles)."""
    try:
        z = np.load(path, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read as .npz ({type(exc).__name__}: {exc}); re-create it "
            "with np.savez and plain numeric arrays"
        ) from exc
    pick = {
        role: next((arrays[k] for k in keys if k in arrays), None)
        for role, keys in NPZ_KEYS.items()
    }
    if pick["user"] is None or pick["item"] is None:
        table = next((a for a in arrays.values() if a.ndim == 2 and a.shape[1] in (2, 3)), None)
        if table is None:
            raise DataError(
                f"{path}: expected arrays named 'user' and 'item' (and optionally "
                f"'timestamp'), or one [E, 2|3] array; found {', '.join(arrays) or 'none'}"
            )
        pick = {
            "user": table[:, 0],
            "item": table[:, 1],
            "time": table[:, 2] if table.shape[1] == 3 else None,
        }
    users, items = paired(pick["user"], pick["item"], str(path))
    shape = arrays.get("shape")
    return users, items, pick["time"], shape


def _pick_column(
    names: list[str],
    wanted: str | None,
    candidates: tuple[str, ...],
    path: Path,
    role: str,
    default: int | None,
):
    if wanted is not None:
        if wanted not in names:
            raise DataError(
                f"{path}: no column '{wanted}' for {role}s; columns are {', '.join(names)}; "
                "name one of those"
            )
        return names.index(wanted)
    lower = [n.lower() for n in names]
    for c in candidates:
        if c in lower:
            return lower.index(c)
    return default


def read_interactions(
    path: str | Path, *, user_col=None, item_col=None, time_col=None, header=None
):
    """``(raw_users, raw_items, timestamps or None)`` from a CSV / TSV / npz file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: interactions file not found; check the path")
    if path.suffix == ".npz":
        users, items, times, _ = read_npz_pairs(path)
        return users, items, times
    names, cols = read_table(path, header=header, header_names=USER_NAMES + ITEM_NAMES + TIME_NAMES)
    if len(names) < 2:
        raise DataError(
            f"{path}: needs at least two columns (user, item), found {len(names)}; "
            "separate them with a comma or a tab"
        )
    u = _pick_column(names, user_col, USER_NAMES, path, "user", 0)
    i = _pick_column(names, item_col, ITEM_NAMES, path, "item", 1)
    t = _pick_column(names, time_col, TIME_NAMES, path, "timestamp", None)
    offset = 2 if names[0] != "0" else 1
    times = to_times(cols[t], path, names[t], line_offset=offset) if t is not None else None
    return ids_column(cols[u]), ids_column(cols[i]), times


def read_item_index(path: Path) -> np.ndarray:
    """The raw item ids of an index file, one per line (distinct, in row order)."""
    if not path.exists():
        raise DataError(
            f"{path}: item index file not found; give a text file with the raw item id of "
            "each feature row, one per line"
        )
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    ids = ids_column(lines)
    if np.unique(ids).size != ids.size:
        raise DataError(
            f"{path}: item ids repeat; the item index needs one distinct raw id per line"
        )
    return ids


def load_generic(
    interactions: str | Path,
    features: Mapping[str, str | Path] | None = None,
    *,
    name: str | None = None,
    item_index: str | Path | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
    split: str = "random",
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    cold_items: float = 0.0,
) -> RecData:
    """Load an interaction log and feature files and split it per user.

    Args:
        interactions: CSV / TSV (columns found by name: ``user``/``user_id``...,
            ``item``/``item_id``..., optional ``timestamp``; else the first two) or ``.npz``.
        features: modality name -> ``.npy`` file with one row per item.
        item_index: text file, one raw item id per line, giving the raw id of each feature row;
            without it raw item ids must be the integers ``0 .. rows-1``.
        split: ``"random"`` (seeded, per user, ``ratios``) or ``"temporal"`` (needs timestamps).
        cold_items: then hold this fraction of the items out of training entirely, for
            cold-start evaluation (:func:`~mmgraph.data.splits.cold_item_split`).
    """
    path = Path(interactions)
    name = name or path.stem
    if split not in ("random", "temporal"):
        raise DataError(f"unknown split '{split}'; use 'random' or 'temporal'")
    raw_users, raw_items, times = read_interactions(
        path, user_col=user_col, item_col=item_col, time_col=time_col
    )
    if raw_users.size == 0:
        raise DataError(f"{path}: no interactions; add one (user, item) row per interaction")
    if split == "temporal" and times is None:
        raise DataError(
            f"{path}: split='temporal' needs a timestamp column; add one or use split='random'"
        )
    feature_paths = {m: Path(p) for m, p in (features or {}).items()}
    feats = {m: load_npy(p) for m, p in feature_paths.items()}
    rows = feature_rows(feats, feature_paths)
    user_ids, users = np.unique(raw_users, return_inverse=True)
    notes = []
    if item_index is not None:
        item_ids = read_item_index(Path(item_index))
        order = np.argsort(item_ids, kind="stable")
        if item_ids.dtype.kind != raw_items.dtype.kind:
            item_ids, raw_items = item_ids.astype(str), raw_items.astype(str)
        pos = np.searchsorted(item_ids[order], raw_items)
        pos = np.minimum(pos, item_ids.size - 1)
        known = item_ids[order][pos] == raw_items
        if not known.all():
            raise DataError(
                f"{path}: {int((~known).sum())} interactions name items missing from "
                f"{item_index} (first: {raw_items[~known][0]!r}); add them to the index"
            )
        items = order[pos]
    elif rows is not None:
        if raw_items.dtype.kind not in "iu":
            raise DataError(
                f"{path}: item ids are not integers, so feature rows cannot be matched "
                "to items; give the raw item id of each feature row in an index file "
                "(item_index.txt in a dataset folder, or item_index=... in Python)"
            )
        items = raw_items.astype(np.int64)
        item_ids = None
    else:
        item_ids, items = np.unique(raw_items, return_inverse=True)
    num_items = rows if rows is not None and item_index is None else len(item_ids)
    if item_index is None and rows is not None and (items.min() < 0 or items.max() >= num_items):
        bad = items[(items < 0) | (items >= num_items)][0]
        raise DataError(
            f"{path}: item id {bad} has no feature row ({', '.join(map(str, feature_paths.values()))} "
            f"have {num_items} rows); ids must be 0-based feature row numbers, or pass item_index"
        )
    # Repeated interactions: keep the first (the earliest, for a temporal split).
    keys = users.astype(np.int64) * num_items + items
    order = np.lexsort((times,)) if times is not None else np.arange(keys.size)
    _, first = np.unique(keys[order], return_index=True)
    keep = np.sort(order[first])
    if keep.size < keys.size:
        notes.append(f"removed {keys.size - keep.size:,} repeated interactions ({path})")
    users, items = users[keep], items[keep]
    times = times[keep] if times is not None else None
    train, val, test = split_per_user(
        users, items, ratios=ratios, seed=seed, timestamps=times if split == "temporal" else None
    )
    files = {s: str(path) for s in ("train", "val", "test")} | {
        m: str(p) for m, p in feature_paths.items()
    }
    rec = build_records(
        name,
        num_users=len(user_ids),
        num_items=num_items,
        train=train,
        val=val,
        test=test,
        features=feats,
        files=files,
        user_ids=user_ids,
        item_ids=item_ids,
        source=str(path),
        notes=notes,
        split_protocol=describe_split(split, ratios, seed),
    )
    return cold_item_split(rec, cold_items, seed) if cold_items else rec


GENERIC_NAMES = ("interactions.csv", "interactions.tsv", "interactions.npz")


def generic_dir_files(root: Path) -> tuple[Path | None, dict[str, Path], Path | None]:
    """A generic folder: ``interactions.{csv,tsv,npz}``, ``<modality>[_feat].npy``, ``item_index.txt``."""
    inter = next((root / n for n in GENERIC_NAMES if (root / n).exists()), None)
    index = root / "item_index.txt"
    return inter, feature_paths(root), index if index.exists() else None


def load_generic_dir(
    root: str | Path, name: str | None = None, *, split: str = "random", seed: int = 0
) -> RecData:
    """:func:`load_generic` on a folder laid out as :func:`generic_dir_files` describes."""
    root = Path(root)
    inter, feats, index = generic_dir_files(root)
    if inter is None:
        raise DataError(
            f"{root}: no {' / '.join(GENERIC_NAMES)} found; put the interactions table "
            "there under one of those names"
        )
    return load_generic(
        inter, feats, name=name or root.name, item_index=index, split=split, seed=seed
    )


FORMAT = Format(
    "generic",
    fixed_split=False,
    detect=lambda root: generic_dir_files(root)[0] is not None,
    source_files=source_files_by_suffix,
    feature_paths=feature_paths,
    read=lambda root, name, split, seed: load_generic_dir(root, name, split=split, seed=seed),
)
