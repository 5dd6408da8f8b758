"""Validated interaction and feature arrays: the one shape every loader produces.

Each on-disk format is parsed into plain numpy arrays and handed to :func:`build_records`, which
checks ids and features, repairs what can be repaired safely (duplicates, held-out users without
training items) and records each repair as a note.  :func:`mmgraph.data.to_hetero` turns the
result into a :class:`~torch_geometric.data.HeteroData`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mmgraph.errors import DataError, DataWarning

SPLITS = ("train", "val", "test")
SPLIT_TITLES = {"train": "training", "val": "validation", "test": "test"}


@dataclass
class BagOfWords:
    """A text modality stored as (item, word) index pairs, as MMGCN's TikTok ``feat_t.pt``.

    ``index`` is int64 ``[2, n]``: row 0 item ids, row 1 word ids; a model learns word embeddings
    and averages them per item.
    """

    index: np.ndarray
    num_words: int


@dataclass
class RecData:
    """A recommendation dataset as validated arrays (no torch modules, no files).

    Interactions are int64 ``[2, E]`` arrays of (user, item) with 0-based contiguous ids.
    ``user_ids`` / ``item_ids`` map those ids back to the raw ids of the source (``None`` when
    the source already used contiguous ids).  ``notes`` lists the repairs made while loading.
    """

    name: str
    num_users: int
    num_items: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    bags: dict[str, BagOfWords] = field(default_factory=dict)
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    synthetic: bool = False
    source: str = ""
    split_protocol: str = "fixed split from the source files"
    notes: list[str] = field(default_factory=list)
    # Interactions per split as the source held them, before repairs.
    file_counts: dict[str, int] = field(default_factory=dict)
    # Ground truth of a synthetic stand-in (item types, modality reliability, latent factors), for
    # analysis only: never part of the graph a model sees.
    planted: dict[str, np.ndarray] | None = None
    # Cold-start items (sorted ids): held out of training entirely, so models meet them through
    # their features alone; evaluated by ranking among these items only.  ``None``: no cold split.
    cold_items: np.ndarray | None = None
    # SHA-256 of the source files and loading options (``cache.data_fingerprint``); ``None`` for
    # synthetic stand-ins and loads without the cache.
    fingerprint: str | None = None

    @property
    def modalities(self) -> list[str]:
        return list(self.features) + list(self.bags)

    def split(self, name: str) -> np.ndarray:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def warn_notes(self) -> None:
        """Emit each repair note as a :class:`~mmgraph.errors.DataWarning`."""
        for note in self.notes:
            warnings.warn(f"{self.name}: {note}", DataWarning, stacklevel=3)


def as_int_ids(values, where: str) -> np.ndarray:
    """Ids as int64; integral floats are accepted, anything else is a :class:`DataError`."""
    arr = np.asarray(values)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: ids must be integers, found non-numeric values; store user and "
                "item ids as integers"
            ) from None
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        flat = arr.ravel()
        bad = (
            np.ones(flat.shape, bool)
            if not np.issubdtype(arr.dtype, np.floating)
            else ~np.isfinite(flat) | (flat != np.round(flat))
        )
        if bad.any():
            raise DataError(
                f"{where}: ids must be integers, found dtype {arr.dtype} values such as "
                f"{flat[bad][0].item()!r}; store user and item ids as integers"
            )
    return arr.astype(np.int64, copy=False)


def declared_shape(shape, where: str) -> tuple[int, int] | None:
    """An npz's optional ``shape`` array as ``(num_users, num_items)``, validated."""
    if shape is None:
        return None
    arr = np.asarray(shape).ravel()
    real = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.size != 2 or not real or not np.all(arr > 0) or np.any(arr % 1):
        raise DataError(
            f"{where}: 'shape' must hold two positive counts (users, items), got "
            f"{arr.tolist()}; fix it or leave it out"
        )
    return int(arr[0]), int(arr[1])


def paired(users, items, where: str, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Two id arrays (npz ``<prefix>user`` / ``<prefix>item``), flattened; :class:`DataError` when
    their lengths differ."""
    users, items = np.ravel(users), np.ravel(items)
    if users.size != items.size:
        raise DataError(
            f"{where}: '{prefix}user' has {users.size} entries but '{prefix}item' has {items.size}; "
            "they must pair up one to one"
        )
    return users, items


def _as_pairs(pairs, where: str) -> np.ndarray:
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise DataError(
            f"{where}: expected (user, item) pairs of shape [2, E], got {arr.shape}; "
            "stack users and items as two rows"
        )
    return as_int_ids(arr, where)


def feature_rows(features: Mapping[str, np.ndarray], paths: Mapping[str, object]) -> int | None:
    """The common row count of the feature matrices (``None`` without features).

    Each must be a 2-D numeric array; a disagreement names every file and its row count.
    """
    for m, x in features.items():
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype == object:
            shape = getattr(x, "shape", None)
            raise DataError(
                f"{paths[m]}: {m} features must be a 2-D numeric [items, dim] matrix, "
                f"got {type(x).__name__} of shape {shape}; save one row per item"
            )
    rows = {x.shape[0] for x in features.values()}
    if len(rows) > 1:
        counts = ", ".join(f"{paths[m]} has {x.shape[0]} rows" for m, x in features.items())
        raise DataError(
            f"feature files disagree on the item count: {counts}; each needs one row per item"
        )
    return rows.pop() if rows else None


def check_ids(ids: np.ndarray, count: int, what: str, where: str, fix: str = "") -> None:
    """Raise a :class:`DataError` naming ``where`` if ``ids`` leave ``[0, count)``."""
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0:
        raise DataError(
            f"{where}: negative {what} id {lo}; ids must be 0-based non-negative integers"
        )
    if hi >= count:
        raise DataError(
            f"{where}: {what} id {hi} is out of range for {count} {what}s"
            + f"; {fix or 'ids must be 0-based and below the count'}"
        )


def check_features(x, name: str, num_items: int, where: str) -> np.ndarray:
    """Validate one dense modality matrix and return it as C-contiguous float32 ``[I, D]``."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(
            f"{where}: {name} features must be a 2-D [items, dim] matrix, got shape "
            f"{x.shape}; reshape it to one row per item"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(
            f"{where}: {name} features have dtype {x.dtype}; save them as a float array"
        )
    if x.shape[0] != num_items:
        raise DataError(
            f"{where}: {name} features have {x.shape[0]} rows but the dataset has "
            f"{num_items} items; there must be one row per item id"
        )
    if x.shape[1] == 0:
        raise DataError(
            f"{where}: {name} features have 0 columns; give them columns or drop the file"
        )
    # float16 sums overflow, float64 doubles memory for no gain in recommendation models.
    x = np.ascontiguousarray(x, dtype=np.float32)
    for start in range(0, x.shape[0], 16384):  # chunked: no [I, D] boolean temporary
        block = x[start : start + 16384]
        if not np.isfinite(block).all():
            row = start + int(np.nonzero(~np.isfinite(block).all(axis=1))[0][0])
            raise DataError(
                f"{where}: {name} features contain NaN or inf (first at item row {row}); "
                "clean or impute them before loading"
            )
    return x


def _unique_pairs(pairs: np.ndarray, num_items: int) -> tuple[np.ndarray, np.ndarray, int]:
    keys = pairs[0] * np.int64(num_items) + pairs[1]
    uniq = np.unique(keys)
    return np.stack([uniq // num_items, uniq % num_items]), uniq, keys.size - uniq.size


def build_records(
    name: str,
    *,
    num_users: int,
    num_items: int,
    train,
    val,
    test,
    features: Mapping[str, np.ndarray] | None = None,
    bags: Mapping[str, BagOfWords] | None = None,
    files: Mapping[str, str] | None = None,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
    synthetic: bool = False,
    source: str = "",
    notes: list[str] | None = None,
    split_protocol: str = "fixed split from the source files",
    drop_unseen_users: bool = True,
    cold_items: np.ndarray | None = None,
) -> RecData:
    """Validate raw arrays and return a :class:`RecData`.

    Errors (one line, naming the file from ``files``): ids negative or out of range, feature
    rows != ``num_items``, non-2-D or non-finite features, an empty split.  Repairs (recorded in
    ``notes``): duplicate interactions removed, held-out pairs that are also training pairs
    removed, and held-out interactions of users with no training interaction dropped (as MMRec
    does) unless ``drop_unseen_users=False``.  Interactions come back sorted by (user, item).
    ``cold_items`` (item ids) must have no training interaction.
    """
    files = dict(files or {})
    notes = list(notes or [])
    where = {s: files.get(s, f"{name} {SPLIT_TITLES[s]} interactions") for s in SPLITS}
    if num_users <= 0 or num_items <= 0:
        raise DataError(
            f"{files.get('train', name)}: the dataset has {num_users} users and "
            f"{num_items} items; it needs at least one of each"
        )

    splits, file_counts = {}, {}
    for s, pairs in zip(SPLITS, (train, val, test)):
        arr = _as_pairs(pairs, where[s])
        file_counts[s] = int(arr.shape[1])
        check_ids(arr[0], num_users, "user", where[s])
        check_ids(
            arr[1], num_items, "item", where[s], "item ids must be row indices of the feature files"
        )
        arr, keys, dups = _unique_pairs(arr, num_items)
        if dups:
            notes.append(f"removed {dups:,} duplicate {SPLIT_TITLES[s]} interactions ({where[s]})")
        splits[s] = (arr, keys)

    train_arr, train_keys = splits["train"]
    if train_arr.shape[1] == 0:
        raise DataError(
            f"{where['train']}: the training split is empty; it needs at least one "
            "(user, item) interaction"
        )
    has_train = np.zeros(num_users, dtype=bool)
    has_train[train_arr[0]] = True
    out = {"train": train_arr}
    for s in ("val", "test"):
        arr, keys = splits[s]
        in_train = np.isin(keys, train_keys, assume_unique=True)
        if in_train.any():
            notes.append(
                f"removed {int(in_train.sum()):,} {SPLIT_TITLES[s]} interactions that are "
                f"also training interactions ({where[s]})"
            )
            arr = arr[:, ~in_train]
        unseen = ~has_train[arr[0]]
        if unseen.any() and drop_unseen_users:
            users = np.unique(arr[0, unseen]).size
            notes.append(
                f"dropped {int(unseen.sum()):,} {SPLIT_TITLES[s]} interactions of {users:,} "
                f"users with no training interaction ({where[s]})"
            )
            arr = arr[:, ~unseen]
        if s == "val":  # a pair held out twice would leak test into model selection
            in_test = np.isin(arr[0] * np.int64(num_items) + arr[1], splits["test"][1])
            if in_test.any():
                notes.append(
                    f"removed {int(in_test.sum()):,} validation interactions that are also "
                    f"test interactions ({where[s]})"
                )
                arr = arr[:, ~in_test]
        if arr.shape[1] == 0:
            fix = (
                "give it held-out interactions"
                if split_protocol.startswith("fixed")
                else f"the {split_protocol} holds out nothing from users with few interactions; "
                "give users more interactions (5 or more for a 0.1 share)"
            )
            raise DataError(
                f"{where[s]}: the {SPLIT_TITLES[s]} split is empty (after removing users "
                f"without training interactions); {fix}"
            )
        out[s] = arr

    feats = {}
    for m, x in (features or {}).items():
        feats[m] = check_features(x, m, num_items, files.get(m, f"{name} {m} features"))
    checked_bags = {}
    for m, bag in (bags or {}).items():
        src = files.get(m, f"{name} {m} words")
        idx = _as_pairs(bag.index, src)
        check_ids(idx[0], num_items, "item", src)
        check_ids(idx[1], bag.num_words, "word", src)
        if idx.shape[1] == 0:
            raise DataError(
                f"{src}: the {m} bag of words is empty; give items their words or drop the file"
            )
        checked_bags[m] = BagOfWords(idx, int(bag.num_words))

    if cold_items is not None:
        cold_items = np.unique(as_int_ids(cold_items, f"{name} cold items"))
        check_ids(cold_items, num_items, "item", f"{name} cold items")
        trained = np.isin(cold_items, out["train"][1])
        if trained.any():
            raise DataError(
                f"{where['train']}: cold item {cold_items[trained][0]} has training "
                "interactions; cold items must be held out of training entirely"
            )
    for ids, count, what in ((user_ids, num_users, "user"), (item_ids, num_items, "item")):
        if ids is not None and len(ids) != count:
            raise DataError(
                f"{name}: {what} id map has {len(ids)} entries for {count} {what}s; give one "
                f"raw id per {what}"
            )

    return RecData(
        name=name,
        num_users=int(num_users),
        num_items=int(num_items),
        train=out["train"],
        val=out["val"],
        test=out["test"],
        features=feats,
        bags=checked_bags,
        user_ids=user_ids,
        item_ids=item_ids,
        synthetic=synthetic,
        source=source,
        split_protocol=split_protocol,
        notes=notes,
        file_counts=file_counts,
        cold_items=cold_items,
    )
