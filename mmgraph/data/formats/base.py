"""What every on-disk dataset format provides (:class:`Format`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmgraph.data.records import RecData


@dataclass(frozen=True)
class Format:
    """One on-disk dataset format.

    Attributes:
        name: How configs and messages name it (``"mmgcn"``, ``"mmrec"``, ...).
        fixed_split: The files carry the train / validation / test split; ``False``: mmgraph
            splits the interactions (``data.split``, ``data.seed``, ``data.cold_items``).
        detect: Whether a folder holds this format.
        source_files: The files a load reads (hashed into the cache's fingerprint).
        feature_paths: The feature file of each modality.
        read: ``(root, name, split, seed) -> RecData``, validated; ``split`` and ``seed`` are
            used only by formats without a fixed split.
    """

    name: str
    fixed_split: bool
    detect: Callable[[Path], bool]
    source_files: Callable[[Path], list[Path]]
    feature_paths: Callable[[Path], dict[str, Path]]
    read: Callable[[Path, str, str, int], RecData]


def source_files_by_suffix(root: Path) -> list[Path]:
    """Every array or table file in ``root`` (formats whose file names vary)."""
    return sorted(
        p
        for p in root.iterdir()
        if p.suffix in (".npy", ".npz", ".csv", ".tsv", ".txt") and p.is_file()
    )
