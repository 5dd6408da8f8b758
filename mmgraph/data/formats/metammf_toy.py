"""The MetaMMF authors' toy sample: ``user_item_dict_sample.npy`` (or its pickle-free
``interactions.npz`` conversion) plus ``{v,a,t}_feat_sample.npy``.  It has no split: it is split
80/10/10 per user, as the authors' scripts do."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmgraph.data.formats.base import Format, source_files_by_suffix
from mmgraph.data.formats.mmgcn import bags_of_words, dict_pairs, find_features, read_features
from mmgraph.data.records import (
    RecData,
    as_int_ids,
    build_records,
    check_ids,
    declared_shape,
    feature_rows,
)
from mmgraph.data.splits import describe_split, split_per_user
from mmgraph.errors import DataError

TOY_INTERACTIONS = ("user_item_dict_sample.npy", "interactions.npz")


def is_toy_dir(root: Path) -> bool:
    return any(root.glob("*_feat_sample.npy")) or (root / "user_item_dict_sample.npy").exists()


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
        users, items = dict_pairs(dict_path)
        src = dict_path
    elif npz_path.exists():
        from mmgraph.data.formats.generic import read_npz_pairs

        users, items, _, shape = read_npz_pairs(npz_path)
        src = npz_path
    else:
        raise DataError(
            f"{root}: no interactions found; put {TOY_INTERACTIONS[0]} (or "
            f"{TOY_INTERACTIONS[1]} with user/item arrays) there"
        )
    users, items = as_int_ids(users, str(src)), as_int_ids(items, str(src))
    if users.size == 0:
        raise DataError(f"{src}: no interactions; it needs one (user, item) pair per interaction")
    for ids, what in ((users, "user"), (items, "item")):  # the split below indexes by them
        check_ids(ids, np.iinfo(np.int64).max, what, str(src))
    feature_paths = find_features(root)
    features, bag_pairs = read_features(feature_paths)
    rows = feature_rows(features, feature_paths)
    shape = declared_shape(shape, str(src))
    num_users = shape[0] if shape else int(users.max()) + 1
    num_items = shape[1] if shape else rows if rows is not None else int(items.max()) + 1
    train, val, test = split_per_user(users, items, seed=seed)
    files = {s: str(src) for s in ("train", "val", "test")} | {
        m: str(p) for m, p in feature_paths.items()
    }
    return build_records(
        name,
        num_users=num_users,
        num_items=num_items,
        train=train,
        val=val,
        test=test,
        features=features,
        bags=bags_of_words(bag_pairs, 0, num_items),
        files=files,
        source=str(root),
        split_protocol=describe_split("random", (0.8, 0.1, 0.1), seed),
    )


def _read(root: Path, name: str, split: str, seed: int) -> RecData:
    if split != "random":
        raise DataError(f"{root}: the MetaMMF toy sample has no timestamps; use the random split")
    return load_metammf_toy(root, name, seed=seed)


FORMAT = Format(
    "metammf-toy",
    fixed_split=False,
    detect=is_toy_dir,
    source_files=source_files_by_suffix,
    feature_paths=find_features,
    read=_read,
)
