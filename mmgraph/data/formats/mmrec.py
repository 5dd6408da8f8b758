"""The MMRec format: ``<name>.inter`` plus ``*_feat.npy`` (Amazon Baby/Sports/Clothing, MicroLens).

``<name>.inter`` is a tab-separated table with a header holding at least ``userID``, ``itemID``
and ``x_label`` (0 train, 1 validation, 2 test); ids are 0-based.  Each ``<modality>_feat.npy``
is an ``[items, dim]`` matrix whose row is the item id; the modality is named after the file
(``image_feat.npy`` -> ``image``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmgraph.data.formats.base import Format
from mmgraph.data.records import RecData, build_records, feature_rows
from mmgraph.data.safe_load import load_npy
from mmgraph.data.tables import read_table, to_numbers
from mmgraph.errors import DataError

COLUMNS = ("userID", "itemID", "x_label")


def is_mmrec_dir(root: Path) -> bool:
    return any(root.glob("*.inter"))


def inter_file(root: Path, name: str | None) -> Path:
    if name and (root / f"{name}.inter").exists():
        return root / f"{name}.inter"
    found = sorted(root.glob("*.inter"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(
            f"{root}: no .inter file found; an MMRec-format dataset needs "
            f"{name or '<name>'}.inter (columns {', '.join(COLUMNS)}) and *_feat.npy files"
        )
    raise DataError(
        f"{root}: several .inter files ({', '.join(p.name for p in found)}); "
        "name the dataset after the one to load"
    )


def feature_files(root: Path) -> dict[str, Path]:
    return {p.name[: -len("_feat.npy")]: p for p in sorted(root.glob("*_feat.npy"))}


def load_mmrec(root: str | Path, name: str | None = None) -> RecData:
    """Load an MMRec-format directory (see the module docstring)."""
    root = Path(root)
    path = inter_file(root, name)
    name = name or path.stem
    names, columns = read_table(path, delimiter="\t", header=True)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} in the header "
            f"({', '.join(names)}); an .inter file needs {', '.join(COLUMNS)}"
            + (", separated by tabs" if len(names) == 1 else "")
        )
    users, items, labels = (to_numbers(columns[names.index(c)], path, c) for c in COLUMNS)
    bad = ~np.isin(labels, (0, 1, 2))
    if bad.any():
        line = int(np.nonzero(bad)[0][0]) + 2
        raise DataError(
            f"{path}: line {line}: x_label {labels[bad][0]} is not 0 (train), "
            "1 (validation) or 2 (test); fix that line"
        )
    paths = feature_files(root)
    features = {m: load_npy(p) for m, p in paths.items()}
    rows = feature_rows(features, paths)
    num_items = rows if rows is not None else int(items.max(initial=-1)) + 1
    num_users = int(users.max(initial=-1)) + 1
    pairs = np.stack([users, items])
    files = {s: str(path) for s in ("train", "val", "test")} | {m: str(p) for m, p in paths.items()}
    return build_records(
        name,
        num_users=num_users,
        num_items=num_items,
        train=pairs[:, labels == 0],
        val=pairs[:, labels == 1],
        test=pairs[:, labels == 2],
        features=features,
        files=files,
        source=str(root),
    )


FORMAT = Format(
    "mmrec",
    fixed_split=True,
    detect=is_mmrec_dir,
    source_files=lambda root: sorted(root.glob("*.inter")) + sorted(root.glob("*_feat.npy")),
    feature_paths=feature_files,
    read=lambda root, name, split, seed: load_mmrec(root, name),
)
