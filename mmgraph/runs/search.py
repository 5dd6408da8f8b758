"""Per-model search spaces: the grids ``compare`` and ``sweep`` try, one file per model.

``configs/search/<model>.yaml`` holds a model's grid as its reference implementation searches
it, in this package's option names::

    model: lightgcn
    reference: MMRec src/configs/model/LightGCN.yaml (n_layers x reg_weight)
    grid:
      model.num_layers: [1, 2, 3, 4]
      model.reg_weight: [1.0e-2, 1.0e-3, 1.0e-4, 1.0e-5, 1.0e-6]
    notes: where the reference's scales differ from ours, and how they were mapped

A model without a file is trained at its defaults only, and the tables say so.
"""

from __future__ import annotations

import ast
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from mmgraph.train.config import ConfigError, RunConfig, option_key, read_config_file

# the search spaces shipped with the repository (configs/search next to the package)
SEARCH_DIR = Path(__file__).resolve().parents[2] / "configs" / "search"


@dataclass
class SearchSpace:
    """One model's grid: ``{option: [values]}``, every combination a point."""

    model: str
    grid: dict[str, list] = field(default_factory=dict)
    reference: str = "none: the model's defaults only"
    notes: str = ""
    path: Path | None = None

    def points(self) -> list[dict]:
        """Every combination of the grid as ``{option: value}`` (``[{}]`` for no grid)."""
        keys = list(self.grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.grid.values())]

    def describe(self) -> str:
        axes = " x ".join(f"{k} {{{', '.join(map(str, v))}}}" for k, v in self.grid.items())
        return f"{axes or 'defaults only'} ({len(self.points())} point(s); {self.reference})"


def _literal(value):
    """YAML 1.1 reads ``1e-3`` as a string: such values as Python literals."""
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def load_search_space(model: str, directory: str | Path | None = None) -> SearchSpace:
    """``model``'s :class:`SearchSpace` from ``directory`` (default :data:`SEARCH_DIR`);
    the defaults-only space when the folder has no ``<model>.yaml``.  :class:`ConfigError`
    for a damaged file, an option the model does not take, or an empty axis."""
    folder = Path(directory) if directory is not None else SEARCH_DIR
    if directory is not None and not folder.is_dir():
        raise ConfigError(
            f"--search-dir {folder}: no such folder; give the folder of <model>.yaml search spaces"
        )
    path = folder / f"{model}.yaml"
    if not path.is_file():
        return SearchSpace(model)
    raw = read_config_file(path)
    if raw.get("model", model) != model:
        raise ConfigError(
            f"{path}: names model '{raw['model']}', not '{model}'; fix its model: line"
        )
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"{path}: grid must map option names to lists of values")
    space = {}
    for key, values in grid.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"{path}: grid axis {key} has no values; give at least one")
        full = option_key(RunConfig(model=model), str(key), source=f"{path}, grid")
        space[full] = [_literal(v) for v in values]
    return SearchSpace(
        model,
        space,
        str(raw.get("reference", "not stated")),
        str(raw.get("notes", "")).strip(),
        path,
    )


def point_key(point: dict) -> str:
    """A stable text key of a point (sorted JSON), for folder names and lookups."""
    return json.dumps(point, sort_keys=True, default=str)
