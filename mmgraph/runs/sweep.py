"""A sweep: one model's search space, validation mean +- std per point, test at the selected point."""

from __future__ import annotations

from pathlib import Path

from mmgraph.errors import MMGraphError
from mmgraph.models import model_class
from mmgraph.runs.compare import compare
from mmgraph.runs.grid import parse_grid
from mmgraph.train.config import ConfigError


def sweep(
    dataset: str | None,
    model: str = "metammf",
    *,
    seeds: int = 5,
    grid: str | None = None,
    **kwargs,
) -> tuple[Path, dict]:
    """Every point of one ``model``'s search space (or ``grid``): validation mean +- std per
    point, test metrics for the point selected on validation only.  Same files and arguments
    as :func:`compare`."""
    if kwargs.get("resume") is None:
        if not model_class(model).capabilities.trainable:
            raise MMGraphError(
                f"model '{model}' has nothing to train, so nothing to sweep; choose a trained --model"
            )
        if grid is not None and not parse_grid(grid)[0]:
            raise ConfigError(
                "--grid is empty; give at least one axis, e.g. --grid 'lr=0.005,0.02'"
            )
    return compare(dataset, [model], seeds=seeds, grid=grid, kind="sweep", **kwargs)
