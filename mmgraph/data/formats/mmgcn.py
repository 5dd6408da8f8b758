"""The MMGCN / MetaMMF on-disk format (MovieLens, TikTok, Kwai).

MMGCN format, one directory per dataset:

* ``train.npy`` int ``[E, 2]`` rows ``(u, i + U)``: item ids are offset by the user count U.
* ``user_item_dict.npy`` pickled dict ``u -> items (+U)`` of the training interactions.
* ``val_full.npy`` / ``test_full.npy`` object arrays, one row per user ``[u, i1+U, i2+U, ...]``.
* features: ``FeatureVideo_normal.npy`` / ``FeatureAudio_avg_normal.npy`` /
  ``FeatureText_stl_normal.npy`` (MovieLens) or ``feat_v.pt`` / ``feat_a.pt`` / ``feat_t.pt``
  (TikTok, Kwai).  TikTok's ``feat_t.pt`` is a LongTensor ``[2, n]`` of (item, word id) pairs,
  kept as a :class:`~mmgraph.data.records.BagOfWords`.

Samples that use 0-based item ids (no ``+U`` offset) are detected and normalized.  Pickles are
read with :mod:`mmgraph.data.safe_load`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmgraph.data.formats.base import Format
from mmgraph.data.records import (
    BagOfWords,
    RecData,
    as_int_ids,
    build_records,
    feature_rows,
)
from mmgraph.data.safe_load import load_npy, load_pt
from mmgraph.errors import DataError

# modality -> candidate file names, first found wins.
FEATURE_FILES: dict[str, tuple[str, ...]] = {
    "visual": ("FeatureVideo_normal.npy", "feat_v.pt", "feat_v.npy", "v_feat_sample.npy"),
    "acoustic": ("FeatureAudio_avg_normal.npy", "feat_a.pt", "feat_a.npy", "a_feat_sample.npy"),
    "textual": ("FeatureText_stl_normal.npy", "feat_t.pt", "feat_t.npy", "t_feat_sample.npy"),
}
MMGCN_FILES = ("train.npy", "val_full.npy", "test_full.npy")


def is_mmgcn_dir(root: Path) -> bool:
    return (root / "train.npy").exists()


def read_matrix(path: Path):
    """A feature file as numpy: ``.npy`` (safe) or ``.pt`` (``weights_only``)."""
    obj = load_pt(path) if path.suffix == ".pt" else load_npy(path)
    if hasattr(obj, "detach"):  # torch tensor
        obj = obj.detach().cpu()
        obj = (obj.to_dense() if obj.layout != torch.strided else obj).numpy()
    if not isinstance(obj, np.ndarray):
        raise DataError(
            f"{path}: expected one tensor or array, found {type(obj).__name__}; save the "
            "features as one [items, dim] tensor or array"
        )
    if obj.dtype == object:
        raise DataError(
            f"{path}: expected a numeric matrix, found an object array; save it as a "
            "float [items, dim] array"
        )
    return obj


def find_features(root: Path) -> dict[str, Path]:
    found = {}
    for modality, names in FEATURE_FILES.items():
        for fname in names:
            if (root / fname).exists():
                found[modality] = root / fname
                break
    return found


def _read_ragged(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``[u, i1, i2, ...]`` rows (object array or equal-length int matrix) -> (users, items)."""
    rows = load_npy(path)
    if rows.ndim == 0 or (rows.dtype != object and rows.ndim != 2):
        raise DataError(
            f"{path}: expected one row [user, item, item, ...] per user, got an array "
            f"of shape {rows.shape}; save an object array of such rows"
        )
    users, items = [], []
    for k, row in enumerate(rows):
        row = as_int_ids(
            np.asarray(row, dtype=object if isinstance(row, (list, tuple)) else None).ravel(),
            f"{path} (row {k})",
        )
        if row.size:
            users.append(np.full(row.size - 1, row[0], dtype=np.int64))
            items.append(row[1:])
    if not users:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(users), np.concatenate(items)


def _read_train(path: Path) -> tuple[np.ndarray, np.ndarray]:
    arr = load_npy(path)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataError(
            f"{path}: expected an integer [E, 2] array of (user, item) rows, got shape "
            f"{arr.shape}; save the training pairs as one [E, 2] integer array"
        )
    arr = as_int_ids(arr, str(path))
    return arr[:, 0], arr[:, 1]


def dict_pairs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = load_npy(path)
    obj = obj.item() if obj.dtype == object and obj.ndim == 0 else obj
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: expected a pickled dict user -> items, found {type(obj).__name__}; "
            "save {user: [items]}, or pairs in interactions.npz"
        )
    users, items = [], []
    for u, its in obj.items():
        try:
            its = list(its)
        except TypeError:
            raise DataError(
                f"{path}: user {u!r} maps to {type(its).__name__}, not a list of items; map "
                "each user to a list or set of item ids"
            ) from None
        its = as_int_ids(np.asarray(its, dtype=object), f"{path} (user {u!r})")
        users.append(
            np.full(its.size, as_int_ids(np.asarray([u], dtype=object), f"{path} (keys)")[0])
        )
        items.append(its)
    if not users:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(users), np.concatenate(items)


def read_features(feature_paths: dict[str, Path]):
    """``(dense features, bag-of-words pairs)`` from the files :func:`find_features` found."""
    features, bags = {}, {}
    for modality, path in feature_paths.items():
        x = read_matrix(path)
        if x.ndim == 2 and x.shape[0] == 2 and np.issubdtype(x.dtype, np.integer):
            bags[modality] = x.astype(np.int64)  # (item, word) pairs; checked once items known
        else:
            features[modality] = x
    return features, bags


def bags_of_words(
    bag_pairs: dict[str, np.ndarray], num_users: int, num_items: int
) -> dict[str, BagOfWords]:
    bags = {}
    for m, idx in bag_pairs.items():
        idx = idx.copy()
        if idx[0].size and idx[0].min() >= num_users and idx[0].max() - num_users < num_items:
            idx[0] -= num_users  # some copies offset the item row like the interactions
        bags[m] = BagOfWords(idx, int(idx[1].max()) + 1 if idx.size else 0)
    return bags


def _item_offset(
    users: np.ndarray, items: np.ndarray, num_items: int | None, num_users: int | None
) -> tuple[int, int, list[str]]:
    """``(offset, num_users, notes)``: MMGCN stores item i as i + U; toy samples use 0-based ids.

    Offset U must satisfy max user < U <= min item and, when the feature row count I is known,
    max item < U + I.  The smallest such U is taken (users after the last id then have no
    interactions); a note says when 0-based ids would have fitted as well.
    """
    max_user = int(users.max()) if users.size else -1
    if not items.size:
        return 0, num_users or max_user + 1, []
    lo = max(max_user + 1, int(items.max()) - num_items + 1 if num_items else 0)
    if num_users is not None:
        lo = num_users
    if int(items.min()) < lo:
        return 0, num_users or max_user + 1, []
    notes = []
    if num_items and int(items.max()) < num_items:
        notes.append(
            f"item ids are all >= {lo:,} and also fit the {num_items:,} feature rows "
            f"unshifted; read them as MMGCN's i + U with U = {lo:,}"
        )
    return lo, max(lo, max_user + 1), notes


def load_mmgcn(
    root: str | Path, name: str | None = None, *, num_users: int | None = None
) -> RecData:
    """Load an MMGCN-format directory (see the module docstring).

    ``num_users`` fixes the user count U, which is also the item id offset when the files use
    offset ids; by default it is inferred (see :func:`_item_offset`).
    """
    root = Path(root)
    name = name or root.name
    for fname in MMGCN_FILES:
        if not (root / fname).exists():
            raise DataError(
                f"{root / fname}: file not found; an MMGCN-format dataset needs "
                f"{', '.join(MMGCN_FILES)} and feature files in {root}"
            )
    paths = {
        "train": root / "train.npy",
        "val": root / "val_full.npy",
        "test": root / "test_full.npy",
    }
    raw = {
        "train": _read_train(paths["train"]),
        "val": _read_ragged(paths["val"]),
        "test": _read_ragged(paths["test"]),
    }
    dict_path = root / "user_item_dict.npy"
    train_dict = dict_pairs(dict_path) if dict_path.exists() else None

    feature_paths = find_features(root)
    if not feature_paths:
        raise DataError(
            f"{root}: no feature files found; put one or more of "
            f"{', '.join(n for names in FEATURE_FILES.values() for n in names[:2])} there"
        )
    features, bag_pairs = read_features(feature_paths)
    rows = feature_rows(features, feature_paths)

    all_users = np.concatenate([raw[s][0] for s in raw])
    all_items = np.concatenate([raw[s][1] for s in raw])
    offset, num_users, notes = _item_offset(all_users, all_items, rows, num_users)
    num_items = rows if rows is not None else int(all_items.max(initial=offset - 1)) - offset + 1
    pairs = {s: np.stack([u, i - offset]) for s, (u, i) in raw.items()}
    if any(p.size and (p[1].min() < 0 or p[1].max() >= num_items) for p in pairs.values()):
        # Name the file that breaks MMGCN's layout (item i stored as i + U, U = max user + 1).
        std = int(all_users.max()) + 1
        s = max(raw, key=lambda k: int(raw[k][1].max(initial=-1)))
        raise DataError(
            f"{paths[s]}: item id {int(raw[s][1].max())} does not fit {num_items:,} items, "
            f"neither as MMGCN's i + U (U = {std:,}) nor 0-based; fix the id or the "
            "feature rows"
        )
    if train_dict is not None:
        width = max(int(train_dict[1].max(initial=0)), int(all_items.max())) + 1
        in_dict = np.unique(train_dict[0] * width + train_dict[1])
        in_train = np.unique(raw["train"][0] * width + raw["train"][1])
        differ = np.setxor1d(in_dict, in_train, assume_unique=True).size
        if differ:
            notes.append(
                f"{dict_path.name} differs from train.npy in {differ:,} pairs; train.npy is used"
            )
    files = {s: str(p) for s, p in paths.items()} | {m: str(p) for m, p in feature_paths.items()}
    return build_records(
        name,
        num_users=num_users,
        num_items=num_items,
        train=pairs["train"],
        val=pairs["val"],
        test=pairs["test"],
        features=features,
        bags=bags_of_words(bag_pairs, num_users, num_items),
        files=files,
        source=str(root),
        notes=notes,
    )


def _source_files(root: Path) -> list[Path]:
    names = [*MMGCN_FILES, "user_item_dict.npy", *(n for ns in FEATURE_FILES.values() for n in ns)]
    return [root / n for n in names if (root / n).exists()]


FORMAT = Format(
    "mmgcn",
    fixed_split=True,
    detect=is_mmgcn_dir,
    source_files=_source_files,
    feature_paths=find_features,
    read=lambda root, name, split, seed: load_mmgcn(root, name),
)
