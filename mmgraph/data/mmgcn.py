"""The MMGCN / MetaMMF on-disk format (MovieLens, TikTok, Kwai) and the authors' toy samples.

MMGCN format, one directory per dataset:

* ``train.npy`` int ``[E, 2]`` rows ``(u, i + U)``: item ids are offset by the user count U.
* ``user_item_dict.npy`` pickled dict ``u -> items (+U)`` of the training interactions.
* ``val_full.npy`` / ``test_full.npy`` object arrays, one row per user ``[u, i1+U, i2+U, ...]``.
* features: ``FeatureVideo_normal.npy`` / ``FeatureAudio_avg_normal.npy`` /
  ``FeatureText_stl_normal.npy`` (MovieLens) or ``feat_v.pt`` / ``feat_a.pt`` / ``feat_t.pt``
  (TikTok, Kwai).  TikTok's ``feat_t.pt`` is a LongTensor ``[2, n]`` of (item, word id) pairs,
  kept as a :class:`~mmgraph.data.records.BagOfWords`.

Samples that use 0-based item ids (no ``+U`` offset) are detected and normalized.  The MetaMMF
toy sample (``user_item_dict_sample.npy`` or its pickle-free ``interactions.npz`` conversion,
plus ``{v,a,t}_feat_sample.npy``) has no split: it is split 80/10/10 per user, as the authors'
scripts do.  Pickles are read with :mod:`mmgraph.data.safe_load`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmgraph.data.records import BagOfWords, RecData, build_records
from mmgraph.data.safe_load import load_npy, load_pt
from mmgraph.data.splits import describe_split, split_per_user
from mmgraph.errors import DataError

# modality -> candidate file names, first found wins.
FEATURE_FILES: dict[str, tuple[str, ...]] = {
    "visual": ("FeatureVideo_normal.npy", "feat_v.pt", "feat_v.npy", "v_feat_sample.npy"),
    "acoustic": ("FeatureAudio_avg_normal.npy", "feat_a.pt", "feat_a.npy", "a_feat_sample.npy"),
    "textual": ("FeatureText_stl_normal.npy", "feat_t.pt", "feat_t.npy", "t_feat_sample.npy"),
}
MMGCN_FILES = ("train.npy", "val_full.npy", "test_full.npy")
TOY_INTERACTIONS = ("user_item_dict_sample.npy", "interactions.npz")


def is_mmgcn_dir(root: Path) -> bool:
    return (root / "train.npy").exists()


def is_toy_dir(root: Path) -> bool:
    return any(root.glob("*_feat_sample.npy")) or (root / "user_item_dict_sample.npy").exists()


def read_matrix(path: Path):
    """A feature file as numpy: ``.npy`` (safe) or ``.pt`` (``weights_only``)."""
    obj = load_pt(path) if path.suffix == ".pt" else load_npy(path)
    if hasattr(obj, "detach"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    if not isinstance(obj, np.ndarray):
        raise DataError(f"{path}: expected one tensor or array, found {type(obj).__name__}")
    if obj.dtype == object:
        raise DataError(f"{path}: expected a numeric matrix, found an object array")
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
    if rows.dtype != object and rows.ndim == 2:
        rows = list(rows)
    users, items = [], []
    for k, row in enumerate(rows):
        row = np.asarray(row).ravel()
        if row.size == 0:
            continue
        if row.dtype == object or not np.issubdtype(row.dtype, np.number):
            try:
                row = row.astype(np.int64)
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path}: row {k} holds non-integer ids; each row must be "
                                "[user, item, item, ...]") from exc
        users.append(np.full(row.size - 1, row[0], dtype=np.int64))
        items.append(row[1:].astype(np.int64))
    if not users:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(users), np.concatenate(items)


def _read_train(path: Path) -> tuple[np.ndarray, np.ndarray]:
    arr = load_npy(path)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: expected an integer [E, 2] array of (user, item)") from exc
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataError(f"{path}: expected an integer [E, 2] array of (user, item) rows, got shape "
                        f"{arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{path}: ids have dtype {arr.dtype}; they must be integers")
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)


def _dict_pairs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = load_npy(path)
    obj = obj.item() if obj.dtype == object and obj.ndim == 0 else obj
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict user -> items, found {type(obj).__name__}")
    users, items = [], []
    for u, its in obj.items():
        its = np.fromiter((int(i) for i in its), dtype=np.int64)
        users.append(np.full(its.size, int(u), dtype=np.int64))
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


def load_mmgcn(root: str | Path, name: str | None = None, *, num_users: int | None = None) -> RecData:
    """Load an MMGCN-format directory (see the module docstring).

    ``num_users`` overrides the user count inferred as ``max user id + 1``, which is also the
    item id offset U when the files use offset item ids.
    """
    root = Path(root)
    name = name or root.name
    for fname in MMGCN_FILES:
        if not (root / fname).exists():
            raise DataError(f"{root / fname}: file not found; an MMGCN-format dataset needs "
                            f"{', '.join(MMGCN_FILES)} and feature files in {root}")
    paths = {"train": root / "train.npy", "val": root / "val_full.npy", "test": root / "test_full.npy"}
    raw = {"train": _read_train(paths["train"]),
           "val": _read_ragged(paths["val"]), "test": _read_ragged(paths["test"])}
    notes = []
    dict_path = root / "user_item_dict.npy"
    dict_pairs = _dict_pairs(dict_path) if dict_path.exists() else None

    feature_paths = find_features(root)
    if not feature_paths:
        raise DataError(f"{root}: no feature files found; put one or more of "
                        f"{', '.join(n for names in FEATURE_FILES.values() for n in names[:2])} there")
    features, bag_pairs = read_features(feature_paths)

    all_users = np.concatenate([raw[s][0] for s in raw])
    all_items = np.concatenate([raw[s][1] for s in raw])
    if num_users is None:
        num_users = int(all_users.max()) + 1 if all_users.size else 0
    # MMGCN stores items as i + U; the authors' toy samples use 0-based items.
    offset = num_users if all_items.size and all_items.min() >= num_users else 0
    notes_offset = (f"item ids are stored offset by {num_users:,} users (i + U); normalized to 0-based"
                    if offset else "item ids are stored 0-based (no user offset)")
    rows = {x.shape[0] for x in features.values()}
    if len(rows) > 1:
        raise DataError(f"{root}: feature files disagree on the item count: "
                        + ", ".join(f"{feature_paths[m].name} has {x.shape[0]} rows" for m, x in features.items()))
    num_items = rows.pop() if rows else int(all_items.max()) - offset + 1
    pairs = {s: np.stack([u, i - offset]) for s, (u, i) in raw.items()}
    for s in pairs:  # a clearer message than a bare range error when the offset guess is wrong
        if pairs[s].size and (pairs[s][1].min() < 0 or pairs[s][1].max() >= num_items):
            raise DataError(f"{paths[s]}: item ids do not fit {num_items:,} items ({notes_offset}); "
                            "if items are offset by another user count U, call load_mmgcn(root, num_users=U)")
    if dict_pairs is not None:
        width = max(int(dict_pairs[1].max(initial=0)), int(all_items.max())) + 1
        in_dict = np.unique(dict_pairs[0] * width + dict_pairs[1])
        in_train = np.unique(raw["train"][0] * width + raw["train"][1])
        differ = np.setxor1d(in_dict, in_train, assume_unique=True).size
        if differ:
            notes.append(f"{dict_path.name} differs from train.npy in {differ:,} pairs; "
                         "train.npy is used")
    bags = {}
    for m, idx in bag_pairs.items():
        idx = idx.copy()
        if idx[0].size and idx[0].min() >= num_users and idx[0].max() - num_users < num_items:
            idx[0] -= num_users  # some copies offset the item row like the interactions
        bags[m] = BagOfWords(idx, int(idx[1].max()) + 1 if idx.size else 0)
    files = {s: str(p) for s, p in paths.items()} | {m: str(p) for m, p in feature_paths.items()}
    return build_records(name, num_users=num_users, num_items=num_items, train=pairs["train"],
                         val=pairs["val"], test=pairs["test"], features=features, bags=bags,
                         files=files, source=str(root), notes=notes)


def load_metammf_toy(root: str | Path, name: str | None = None, *, seed: int = 0) -> RecData:
    """Load the MetaMMF authors' toy sample and split it 80/10/10 per user with ``seed``.

    Interactions come from ``user_item_dict_sample.npy`` (pickled dict user -> set of 0-based
    items) or, when only that is absent, a pickle-free ``interactions.npz`` with ``user``,
    ``item`` and ``shape`` arrays.
    """
    root = Path(root)
    name = name or root.name
    dict_path, npz_path = root / TOY_INTERACTIONS[0], root / TOY_INTERACTIONS[1]
    shape = None
    if dict_path.exists():
        users, items = _dict_pairs(dict_path)
        src = dict_path
    elif npz_path.exists():
        from mmgraph.data.generic import read_npz_pairs

        users, items, _, shape = read_npz_pairs(npz_path)
        src = npz_path
    else:
        raise DataError(f"{root}: no interactions found; put {TOY_INTERACTIONS[0]} (or "
                        f"{TOY_INTERACTIONS[1]} with user/item arrays) there")
    feature_paths = find_features(root)
    features, bag_pairs = read_features(feature_paths)
    rows = {x.shape[0] for x in features.values()}
    num_users = int(shape[0]) if shape is not None else int(users.max()) + 1
    num_items = (int(shape[1]) if shape is not None else
                 rows.pop() if len(rows) == 1 else int(items.max()) + 1)
    train, val, test = split_per_user(users, items, seed=seed)
    files = {s: str(src) for s in ("train", "val", "test")} | {m: str(p) for m, p in feature_paths.items()}
    bags = {m: BagOfWords(i, int(i[1].max()) + 1) for m, i in bag_pairs.items()}
    return build_records(name, num_users=num_users, num_items=num_items, train=train, val=val,
                         test=test, features=features, bags=bags, files=files, source=str(root),
                         split_protocol=describe_split("random", (0.8, 0.1, 0.1), seed))
