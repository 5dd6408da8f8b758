"""One entry point for every dataset: a known name, a folder in any supported format, or a
synthetic stand-in, optionally preprocessed and cached.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from torch_geometric.data import HeteroData

from mmgraph.data import cache
from mmgraph.data import features as feats
from mmgraph.data.catalog import CATALOG, SYNTHETIC_NAMES
from mmgraph.data.formats import Format
from mmgraph.data.formats import detect_format as _detect
from mmgraph.data.formats.mmgcn import MMGCN_FILES, read_matrix
from mmgraph.data.hetero import to_hetero
from mmgraph.data.records import RecData, check_features
from mmgraph.data.splits import cold_item_split
from mmgraph.data.synthetic import make_synthetic
from mmgraph.errors import DataError, DataWarning


def datasets_dir() -> Path:
    """``$MMGRAPH_DATASETS``, else the checkout's ``datasets/`` folder, else ``./datasets``."""
    if "MMGRAPH_DATASETS" in os.environ:
        return Path(os.environ["MMGRAPH_DATASETS"])
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    return checkout if checkout.is_dir() else Path("datasets")


def default_root(name: str) -> Path:
    return datasets_dir() / name


def detect_format(root: Path) -> str | None:
    """The name of the format of the files in ``root`` (a key of
    :data:`~mmgraph.data.formats.FORMATS`), or ``None``."""
    fmt = _detect(root)
    return None if fmt is None else fmt.name


def _missing_message(name: str, root: Path) -> str:
    spec = CATALOG.get(name)
    if spec is not None:
        optional = f" (optional: {', '.join(spec.optional_files)})" if spec.optional_files else ""
        hint = " or --synthetic for a generated stand-in" if name in SYNTHETIC_NAMES else ""
        readme = default_root(name) / "README.md"
        return (
            f"{name}: no dataset files in {root}; put {', '.join(spec.files)} there{optional} "
            f"(see {readme}), or pass --root DIR{hint}"
        )
    return (
        f"{root}: no dataset found; expected an MMGCN folder ({', '.join(MMGCN_FILES)} + features), "
        "an MMRec folder (<name>.inter + *_feat.npy), the MetaMMF toy sample, interactions.npz "
        "with train_/val_full_/test_full_ arrays, or a generic folder "
        "(interactions.csv|tsv|npz + <modality>.npy)"
    )


def _reread_features(fmt: Format, root: Path, rec: RecData, names: list[str]) -> None:
    """Fill ``rec.features`` from the (hashed, already validated) source files."""
    paths = fmt.feature_paths(root)
    rec.features = {
        m: check_features(read_matrix(paths[m]), m, rec.num_items, str(paths[m])) for m in names
    }


def _preprocess(rec: RecData, normalize, pca, seed: int) -> bool:
    """Apply normalization / PCA in place; ``True`` when the features changed."""
    pca_dims = feats.parse_pca(pca, list(rec.features))
    rec.features, notes = feats.preprocess(
        rec.features, norm=normalize, pca_dims=pca_dims, seed=seed
    )
    rec.notes += notes
    return normalize not in (None, "none") or bool(pca_dims)


def load_records(
    name: str,
    root: str | Path | None = None,
    *,
    synthetic: bool = False,
    scale: float = 1.0,
    seed: int = 0,
    split: str | None = None,
    normalize: str | None = "standard",
    pca: int | str | dict | None = None,
    cold_items: float = 0.0,
    use_cache: bool = True,
) -> RecData:
    """Load dataset ``name`` as validated arrays.

    Args:
        name: a catalog name (``movielens``, ``tiktok``, ``kwai``, ``baby``, ...) or any label
            when ``root`` is given.
        root: the folder holding the files; default ``datasets/<name>``.  Its format (one of
            :data:`~mmgraph.data.formats.FORMATS`) is detected from the files.
        synthetic: generate the stand-in for ``name`` instead (``scale`` shrinks it).
        seed: seed of the synthetic data and of splits the source does not fix.
        split: for sources without a fixed split: ``random`` (default, per user 80/10/10) or
            ``temporal`` (needs timestamps).
        normalize: ``none`` / ``l2`` / ``standard`` (default) feature normalization: every
            model's content layers start from zero-mean, unit-variance features, whatever scale
            the extractor wrote; ``train`` and ``datasets info`` use the same default.
        pca: target dims, one int for all modalities or ``{"visual": 64, ...}``.
        cold_items: for sources without a fixed split (and the synthetic stand-ins): hold this
            fraction of the items out of training (:func:`~mmgraph.data.splits.cold_item_split`).
            A fixed split brings its own cold items (``interactions.npz`` with ``*_cold_*`` arrays).
        use_cache: read / write the processed-dataset cache.
    """
    if split not in (None, "random", "temporal"):
        raise DataError(f"unknown split '{split}'; use 'random' or 'temporal'")
    if synthetic:
        if root is not None:
            raise DataError("--synthetic and --root exclude each other; drop one of them")
        if split == "temporal":
            raise DataError("the synthetic stand-ins have no timestamps; use the random split")
        rec = make_synthetic(name, scale=scale, seed=seed)
        if cold_items:
            rec = cold_item_split(rec, cold_items, seed)
        _preprocess(rec, normalize, pca, seed)
        return rec
    if root is None and name not in CATALOG:
        raise DataError(
            f"unknown dataset '{name}'; known: {', '.join(CATALOG)} (or pass --root DIR "
            "with files in a supported format)"
        )
    root = Path(root) if root is not None else default_root(name)
    if not root.is_dir():
        raise DataError(
            _missing_message(name, root)
            if not root.exists()
            else f"{root}: not a folder; --root must name the folder that holds the files"
        )
    fmt = _detect(root)
    if fmt is None:
        raise DataError(_missing_message(name, root))
    if split is not None and fmt.fixed_split:
        raise DataError(
            f"{root}: this {fmt.name} dataset has a fixed train/valid/test split; drop --split"
        )
    split = split or "random"
    if cold_items and fmt.fixed_split:
        raise DataError(
            f"{root}: this {fmt.name} dataset has a fixed split; drop --cold-items (a fixed "
            "split's cold items come from its files: interactions.npz *_cold_* arrays)"
        )
    options = {
        "format": fmt.name,
        "name": name,
        "normalize": normalize,
        "pca": pca,
        "cold_items": cold_items or None,
        "split": split if not fmt.fixed_split else None,
        "seed": seed if not fmt.fixed_split else None,
    }
    entry = fingerprint = None
    if use_cache:
        fingerprint = cache.data_fingerprint(fmt.name, fmt.source_files(root), options)
        entry = cache.cache_root(root) / f"{fmt.name}-{cache.cache_key(fingerprint)}"
        hit = cache.load(entry)
        if hit is not None:
            rec, to_read = hit
            if to_read:
                _reread_features(fmt, root, rec, to_read)
            rec.source, rec.fingerprint = str(root), fingerprint
            return rec
    rec = fmt.read(root, name, split, seed)
    if cold_items:
        rec = cold_item_split(rec, cold_items, seed)
    changed = _preprocess(rec, normalize, pca, seed)
    rec.fingerprint = fingerprint
    if entry is not None:
        try:
            cache.save(rec, entry, with_features=changed)
        except OSError as err:  # the cache only saves time: never fail a load over it
            warnings.warn(
                f"could not write the dataset cache {entry} ({err.strerror or err}); loading "
                "goes on without it; set MMGRAPH_CACHE to a writable folder",
                DataWarning,
                stacklevel=2,
            )
    return rec


def load_dataset(name: str, root: str | Path | None = None, **kwargs) -> HeteroData:
    """:func:`load_records` then :func:`~mmgraph.data.to_hetero`; repairs are emitted as warnings."""
    rec = load_records(name, root, **kwargs)
    rec.warn_notes()
    return to_hetero(rec)
