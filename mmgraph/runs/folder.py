"""Run folders: new, never reused; the room their checkpoints need; the config they hold."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import torch

from mmgraph.errors import MMGraphError, short_message
from mmgraph.train.config import RunConfig
from mmgraph.utils.io import atomic_write_text


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


def checkpoint_bytes(model) -> int:
    """Room a run's checkpoints take: ``best.pt`` (the parameters) and ``last.pt`` (parameters
    and Adam's two moment buffers), plus a tenth for the temporary copy's overhead."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(4 * params * 1.1)


def check_space(folder: Path, need: int) -> None:
    """:class:`MMGraphError` when ``folder``'s disk has less than ``need`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < need:
        raise MMGraphError(
            f"{folder}: the disk has {free / 2**20:,.0f} MiB free, but this run's checkpoints need "
            f"about {need / 2**20:,.0f} MiB; free some space or pass --out DIR on another disk"
        )


def saved_config(run_dir: Path) -> RunConfig:
    """The resolved config a run folder holds (its ``config.json``)."""
    saved = run_dir / "config.json"
    if not saved.is_file():
        raise MMGraphError(
            f"{run_dir}: not a run folder (no config.json); pass the folder `train` made"
        )
    damaged = (
        f"{saved}: cannot read the run's configuration ({{}}); the run folder is damaged: restore "
        "config.json, or retrain"
    )
    try:
        raw = json.loads(saved.read_text())
    except (OSError, ValueError) as exc:
        raise MMGraphError(damaged.format(f"{type(exc).__name__}: {short_message(exc)}")) from exc
    if not isinstance(raw, dict):
        raise MMGraphError(damaged.format("not a mapping"))
    return RunConfig.from_dict(raw, str(saved))


def new_run_folder(out: str | Path, cfg: RunConfig, model: torch.nn.Module) -> Path:
    """A new run folder under ``out`` holding ``cfg`` as ``config.json``, after checking that its
    disk has room for the checkpoints (nothing is left behind when it has not)."""
    run_dir = new_run_dir(Path(out), cfg.data.name, cfg.model)
    try:
        check_space(run_dir, checkpoint_bytes(model))
        atomic_write_text(json.dumps(cfg.to_dict(), indent=1), run_dir / "config.json")
    except (MMGraphError, OSError) as exc:  # a full disk: say so before any training
        shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(exc, MMGraphError):
            raise
        raise MMGraphError(
            f"{run_dir}: cannot write the run folder ({exc.strerror or exc}); "
            "free some space or pass --out DIR"
        ) from exc
    return run_dir
