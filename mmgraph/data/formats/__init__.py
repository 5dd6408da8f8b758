"""The on-disk dataset formats, one module each, behind one :class:`Format` description.

:data:`FORMATS` lists them in the order :func:`detect_format` tries them.
"""

from __future__ import annotations

from pathlib import Path

from mmgraph.data.formats import generic, metammf_toy, mmgcn, mmrec, split_npz
from mmgraph.data.formats.base import Format

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (mmgcn.FORMAT, mmrec.FORMAT, metammf_toy.FORMAT, split_npz.FORMAT, generic.FORMAT)
}


def detect_format(root: Path) -> Format | None:
    """The format of the files in ``root``, or ``None``."""
    return next((f for f in FORMATS.values() if f.detect(root)), None)


__all__ = ["FORMATS", "Format", "detect_format"]
