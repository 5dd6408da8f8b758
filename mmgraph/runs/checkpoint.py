"""Checkpoints: safe loading, fitting them into a model, the checkpoint a run reports, and the
callback that writes, restores and resumes a run folder's checkpoints."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch

from mmgraph.distributed import load_on_main
from mmgraph.errors import MMGraphError, WriteError, short_message
from mmgraph.train.callbacks import Callback
from mmgraph.train.config import RunConfig
from mmgraph.train.trainer import Trainer
from mmgraph.utils.io import atomic_save
from mmgraph.utils.seed import rng_state, set_rng_state


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


class Checkpoints(Callback):
    """A run folder's checkpoints, as a callback of the :class:`~mmgraph.train.Trainer`.

    ``best.pt`` (the model at the best validation epoch) is written when the validation metric
    improves and ``last.pt`` (model, optimizer, loop state, history and RNG state: what
    :meth:`resume` needs to continue bit for bit) after every epoch, both atomically and by
    the main process only; when training ends the selected one (:func:`selected_checkpoint`)
    is loaded back into the model, on every process.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _load(self, trainer: Trainer, name: str) -> dict:
        """A checkpoint of the folder, read by rank 0 and broadcast to the others."""
        exp = trainer.exp
        return load_on_main(
            lambda: load_checkpoint(self.folder / name, exp.device), exp.ranks, exp.device
        )

    def _save(self, trainer: Trainer, obj: dict, name: str) -> None:
        if not trainer.exp.ranks.main:
            return
        try:
            atomic_save(obj, self.folder / name)
        except WriteError as exc:  # e.g. the disk filled up during training
            kept = (
                ", ".join(n for n in ("last.pt", "best.pt") if (self.folder / n).exists()) or "none"
            )
            cause = exc.__cause__
            raise WriteError(
                f"{self.folder / name}: cannot write the checkpoint ({cause.strerror or cause}); "
                f"complete checkpoints kept: {kept}; free some space, then "
                f"{'--resume' if 'last.pt' in kept else 'start a new run'}"
            ) from cause

    def on_epoch_end(self, trainer: Trainer, record: dict, improved: bool | None) -> None:
        exp = trainer.exp
        if improved:
            best = {
                "model": exp.model.state_dict(),
                "epoch": record["epoch"],
                "data": exp.data_info["fingerprint"],
            }
            self._save(trainer, best, "best.pt")
        last = {
            "model": exp.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "state": {k: v for k, v in trainer.state.items() if k != "history"},
            "history": json.dumps(trainer.state["history"]),
            "rng": rng_state(trainer.generator),
            "data": exp.data_info["fingerprint"],
        }
        self._save(trainer, last, "last.pt")
        trainer.last_checkpoint = self.folder / "last.pt"

    def on_train_end(self, trainer: Trainer) -> None:
        name = selected_checkpoint(trainer.exp.config)
        load_into(trainer.exp.model, self._load(trainer, name), self.folder / name)
        trainer.restored = name

    def resume(self, trainer: Trainer) -> None:
        """Continue ``trainer`` from ``last.pt``: model, optimizer, loop state and RNG state,
        after removing the temporary files of a write a killed process left."""
        exp = trainer.exp
        for stale in sorted(self.folder.glob(".*.tmp-*")) if exp.ranks.main else []:
            stale.unlink()
            trainer.log(f"removed {stale.name}, an unfinished write of a killed run")
        ckpt = self._load(trainer, "last.pt")
        if exp.data_changed_since(ckpt):
            where = exp.config.data.root or exp.data_info["dataset"]
            raise MMGraphError(
                f"{self.folder}: the data at {where} changed since this run started (its files' "
                "digest differs); resuming would train on other data; restore the data, or start "
                "a new run"
            )
        path = self.folder / "last.pt"
        missing = [key for key in ("state", "history", "rng") if key not in ckpt]
        if missing:
            raise MMGraphError(
                f"{path}: the checkpoint lacks {', '.join(missing)}, which resuming needs; it was not "
                "written by `train` or is damaged; start a new run"
            )
        load_into(exp.model, ckpt, path, trainer.optimizer)
        try:
            state = dict(ckpt["state"]) | {"history": json.loads(ckpt["history"])}
            set_rng_state(ckpt["rng"], trainer.generator)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise MMGraphError(
                f"{path}: cannot resume from the checkpoint's loop state ({type(exc).__name__}: "
                f"{short_message(exc)}); it is damaged; start a new run"
            ) from exc
        trainer.state = state
        trainer.last_checkpoint = self.folder / "last.pt"
        trainer.log(f"resumed from {self.folder / 'last.pt'} after epoch {trainer.state['epoch']}")
