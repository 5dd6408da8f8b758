"""Reading checkpoints: safe loading, fitting them into a model, the checkpoint a run reports."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from mmgraph.errors import MMGraphError, short_message
from mmgraph.train.config import RunConfig


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


def selected_checkpoint(config: RunConfig) -> str:
    """The checkpoint a run reports and serves: ``best.pt`` (the best validation epoch) or, with
    ``train.select=last`` (the released MetaMMF code's practice), ``last.pt``."""
    return "last.pt" if config.train.select == "last" else "best.pt"
