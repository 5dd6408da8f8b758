"""Callbacks of the training loop: what a run writes besides its checkpoints.

The :class:`~mmgraph.train.Trainer` calls each hook of each callback in order; the runs layer
attaches the ones below to a run folder (:func:`folder_callbacks`), on the main process only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mmgraph.errors import MMGraphError
from mmgraph.utils.io import atomic_write_text

if TYPE_CHECKING:
    from mmgraph.train.config import TrainConfig
    from mmgraph.train.trainer import Trainer


class Callback:
    """Hooks of :meth:`Trainer.fit <mmgraph.train.Trainer.fit>`; each does nothing unless
    overridden.

    * :meth:`on_message` -- a line of the run's log;
    * :meth:`on_epoch_end` -- after each epoch, with its history record (``"loss"``,
      ``"train_seconds"`` and, on validation epochs, the validation metrics) and whether the
      validation metric improved (``None`` on epochs without validation);
    * :meth:`on_train_end` -- training stopped, before the test split is evaluated;
    * :meth:`on_fit_end` -- with what ``metrics.json`` holds (:meth:`Trainer.summary`);
    * :meth:`close` -- the trainer is closed, whether ``fit`` finished or failed.
    """

    def on_message(self, trainer: Trainer, message: str) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, record: dict, improved: bool | None) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass

    def on_fit_end(self, trainer: Trainer, summary: dict) -> None:
        pass

    def close(self) -> None:
        pass


class LogFile(Callback):
    """Appends every log line to ``path`` (a run's ``log.txt``), flushed line by line."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def on_message(self, trainer: Trainer, message: str) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(message + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MetricsFile(Callback):
    """Writes :meth:`Trainer.summary` to ``path`` (``metrics.json``) atomically after every
    epoch and once more at the end, with the test metrics."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, summary: dict) -> None:
        atomic_write_text(json.dumps(summary, indent=1), self.path)

    def on_epoch_end(self, trainer: Trainer, record: dict, improved: bool | None) -> None:
        self.write(trainer.summary())

    def on_fit_end(self, trainer: Trainer, summary: dict) -> None:
        self.write(summary)


class TensorBoard(Callback):
    """Scalars for TensorBoard in ``folder``: ``loss`` and ``valid/<metric>`` per epoch, and
    ``test/<metric>`` at the selected epoch (``train.tensorboard``; needs ``tensorboard``)."""

    def __init__(self, folder: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.board = SummaryWriter(log_dir=str(folder))

    def scalars(self, step: int, **groups: dict | float | None) -> None:
        for group, values in groups.items():
            if values is None:
                continue
            if isinstance(values, dict):
                for key, value in values.items():
                    if key != "users":
                        self.board.add_scalar(f"{group}/{key}", value, step)
            else:
                self.board.add_scalar(group, values, step)
        self.board.flush()

    def on_epoch_end(self, trainer: Trainer, record: dict, improved: bool | None) -> None:
        self.scalars(
            record["epoch"],
            loss=record["loss"],
            valid=record.get("valid"),
            valid_cold=record.get("valid_cold"),
        )

    def on_fit_end(self, trainer: Trainer, summary: dict) -> None:
        if summary["test"] is not None:
            self.scalars(
                summary["best_epoch"], test=summary["test"], test_cold=summary.get("test_cold")
            )

    def close(self) -> None:
        self.board.close()


class Curves(Callback):
    """``path`` (``curves.png``): loss and validation metrics per epoch, drawn when training
    ends (skipped, with a note in the log, without matplotlib)."""

    def __init__(self, path: Path, metric: str):
        self.path, self.metric = Path(path), metric

    def on_train_end(self, trainer: Trainer) -> None:
        if not trainer.state["history"]:
            return
        from mmgraph.report.plots import curves

        try:
            curves([(self.path.parent.name, trainer.summary())], self.path, self.metric)
        except MMGraphError as exc:  # matplotlib missing: the run itself is fine
            trainer.log(f"{self.path.name} not written: {exc}")


def folder_callbacks(folder: Path, cfg: TrainConfig) -> list[Callback]:
    """What a run folder gets besides its checkpoints: ``log.txt``, ``tensorboard/`` (with
    ``train.tensorboard``), ``metrics.json`` and ``curves.png``."""
    folder = Path(folder)
    out: list[Callback] = [LogFile(folder / "log.txt")]
    if cfg.tensorboard:
        out.append(TensorBoard(folder / "tensorboard"))
    return out + [MetricsFile(folder / "metrics.json"), Curves(folder / "curves.png", cfg.metric)]
