"""Checkpoints and run folders: atomic writes, never overwriting an earlier run."""

from __future__ import annotations

import os
import pickle
import random
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from mmgraph.errors import MMGraphError, WriteError, short_message
from mmgraph.train.faults import fault_point


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


def load_checkpoint(path: Path, device) -> dict:
    if not path.is_file():
        raise MMGraphError(
            f"{path}: checkpoint not found; is this a run folder written by `train`?"
        )
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's weights-only loader refused an object
        refused = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line), "")
        raise MMGraphError(
            f"{path}: cannot load the checkpoint: refused, it holds more than tensors and plain "
            f"values{' (' + refused + ')' if refused else ''}; only load checkpoints written "
            "by mmgraph"
        ) from exc
    except Exception as exc:
        raise MMGraphError(
            f"{path}: cannot load the checkpoint ({type(exc).__name__}: {short_message(exc)}); it "
            "is damaged or not a checkpoint; use another run's, or retrain"
        ) from exc


def load_into(model, ckpt, path: Path, optimizer=None) -> None:
    """Load the checkpoint ``ckpt`` (read from ``path``) into ``model`` and ``optimizer``.

    A checkpoint that does not fit (the run's data or config changed since it was written, or it
    is not mmgraph's) is a one-line :class:`MMGraphError`.
    """
    try:
        model.load_state_dict(ckpt["model"])
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise MMGraphError(
            f"{path}: the checkpoint does not fit the model the run's config.json and data build "
            f"now ({type(exc).__name__}: {short_message(exc)}); the data or the config changed "
            "since training: restore them, or retrain"
        ) from exc


def rng_state(generator: torch.Generator) -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "sampler": generator.get_state(),
        "python": list(random.getstate()[1]),
    }
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state["numpy"] = {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    generator.set_state(state["sampler"].cpu())
    random.setstate((3, tuple(state["python"]), None))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def new_run_dir(out: Path, dataset: str, model: str) -> Path:
    """``out/<dataset>-<model>-<time>``, with ``-2``, ``-3`` ... if that exists: never reused."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MMGraphError(
            f"{out}: cannot create the output folder ({exc.strerror}); pass --out DIR"
        ) from exc
    if not os.access(out, os.W_OK):
        raise MMGraphError(f"{out}: the output folder is not writable; pass --out DIR")
    stem = f"{dataset}-{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for k in range(1, 1000):
        path = out / (stem if k == 1 else f"{stem}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise MMGraphError(
        f"{out}: could not find a free run folder name for {stem}; pass another --out"
    )
