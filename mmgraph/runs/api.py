"""Runs as the CLI starts them: resolve the config, make the run folder, train, report."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from mmgraph.distributed import broadcast, process_group
from mmgraph.errors import DataWarning, MMGraphError
from mmgraph.runs.checkpoint import Checkpoints, load_checkpoint, load_into, selected_checkpoint
from mmgraph.runs.context import Experiment
from mmgraph.runs.folder import new_run_folder, saved_config
from mmgraph.train.callbacks import folder_callbacks
from mmgraph.train.config import (
    RunConfig,
    option_flag,
    parse_assignment,
    read_config_file,
    set_option,
)
from mmgraph.train.trainer import Trainer


def resolve_config(
    dataset: str | None,
    *,
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    **options: Any,
) -> RunConfig:
    """Defaults < config file < explicit options (``data.root=...``, ``train.lr=...``) < ``--set``."""
    cfg = (
        RunConfig.from_dict(read_config_file(config_file), str(config_file))
        if config_file
        else RunConfig()
    )
    if dataset is not None:
        cfg.data.name = dataset
    for key, value in options.items():
        if value is not None:
            set_option(cfg, key, value, source=option_flag(key))
    for text in sets:
        set_option(cfg, *parse_assignment(text))
    return cfg.resolve_defaults()


def train_run(
    cfg: RunConfig,
    out: str | Path = "runs",
    *,
    resume: str | Path | None = None,
    quiet: bool = False,
    log=None,
    epochs: int | None = None,
    test: bool = True,
) -> tuple[Path, dict]:
    """Train ``cfg`` in a new folder under ``out`` (or continue ``resume``); return (folder, metrics).
    ``test=False`` leaves the test split unevaluated (``metrics["test"]`` is ``None``).

    On resume the run's saved config is used; only ``epochs`` may be raised.
    """
    if resume is not None:
        run_dir = Path(resume)
        cfg = saved_config(run_dir)
        if epochs is not None:
            cfg.train.epochs = epochs
        if not (run_dir / "last.pt").is_file():
            raise MMGraphError(f"{run_dir}: no last.pt to resume from; start a new run instead")
    with process_group():
        # bad data, model or device options fail before any folder exists
        exp = Experiment.build(cfg)
        if not exp.model.capabilities.trainable:
            raise MMGraphError(f"model '{cfg.model}' has nothing to train; evaluate it directly")
        if resume is None:  # under torchrun rank 0 makes the folder and tells the others
            run_dir = broadcast(
                new_run_folder(out, cfg, exp.model) if exp.ranks.main else None, exp.ranks
            )
        checkpoints = Checkpoints(run_dir)
        files = folder_callbacks(run_dir, cfg.train) if exp.ranks.main else []
        # the trainer (and its DDP wrapper) is closed before the process group goes
        with closing(Trainer(exp, [checkpoints, *files], quiet=quiet, log=log)) as trainer:
            if resume is not None:
                checkpoints.resume(trainer)
            metrics = trainer.fit(test)
    return run_dir, metrics


def load_run(run_dir: str | Path, device: str | None = None) -> Experiment:
    """``run_dir``'s experiment rebuilt from its config, with its selected checkpoint loaded
    (``best.pt``; ``last.pt`` for ``train.select=last``)."""
    run_dir = Path(run_dir)
    cfg = saved_config(run_dir)
    if device is not None:
        cfg.train.device = device
    exp = Experiment.build(cfg)
    path = run_dir / selected_checkpoint(cfg)
    ckpt = load_checkpoint(path, exp.device)
    load_into(exp.model, ckpt, path)
    if exp.data_changed_since(ckpt):
        warnings.warn(
            f"{run_dir}: the data at {cfg.data.root or cfg.data.name} changed since this run was trained "
            "(its files' digest differs); what follows is for the data as it is now",
            DataWarning,
            stacklevel=2,
        )
    return exp


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    ks: Iterable[int] | None = None,
    device: str | None = None,
) -> tuple[dict, Experiment]:
    """Reload ``run_dir``'s config and best checkpoint and evaluate ``split``."""
    exp = load_run(run_dir, device)
    return exp.evaluate(split, list(ks) if ks else None), exp
