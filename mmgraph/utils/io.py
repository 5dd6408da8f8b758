"""Atomic file writes: a file is either the old one or the new one, never a partial one."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mmgraph.errors import WriteError
from mmgraph.utils.faults import fault_point


def _atomic(path: Path, write) -> None:
    """``write(f)`` to a temporary file beside ``path``, fsync, then rename it over ``path``.

    Any failure removes the temporary file, so ``path`` is either the old file or the new one,
    never a partial one; an :class:`OSError` (a full disk, no permission) becomes a one-line
    :class:`~mmgraph.errors.WriteError`.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise WriteError(
            f"{path}: cannot write it ({exc.strerror or exc}); nothing partial was left; "
            "free some disk space or check the folder's permissions, then run again"
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically (see :func:`_atomic`)."""

    def write(f):
        torch.save(obj, f)
        fault_point(f"save:{path.name}")  # tests kill the process here: mid-write

    _atomic(path, write)


def atomic_write_bytes(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`_atomic`)."""
    _atomic(path, lambda f: f.write(data))


def atomic_write_text(text: str, path: Path) -> None:
    atomic_write_bytes(text.encode(), path)
