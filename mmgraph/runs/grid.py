"""Comparison plans: grid expansion (``--grid``) and the validated plan of a comparison or sweep (models, seeds, options and each model's search space)."""

from __future__ import annotations

import itertools
from pathlib import Path

from mmgraph.data import load_records
from mmgraph.errors import MMGraphError
from mmgraph.models import check_options, model_class
from mmgraph.report.comparison import point_label
from mmgraph.runs.api import resolve_config
from mmgraph.runs.search import SearchSpace, load_search_space, point_key
from mmgraph.train.config import ConfigError, RunConfig, option_key, parse_assignment


def parse_grid(text: str) -> list[dict[str, object]]:
    """``'lr=1e-3,5e-4 cp_rank=8,16'`` -> every combination, as ``{key: value}`` dicts (values
    read as Python literals, so ``fusion_hidden=[],[128]`` gives two lists)."""
    axes = []
    for part in text.split():
        key, sep, raw = part.partition("=")
        if not sep or not key or not raw.strip(","):
            raise ConfigError(f"--grid {part!r}: write key=value1,value2 (e.g. lr=0.005,0.02)")
        value = parse_assignment(part)[1]
        if isinstance(value, tuple):
            values = list(value)
        elif isinstance(value, str) and "," in value:
            values = [parse_assignment(f"{key}={v}")[1] for v in value.split(",") if v]
        else:
            values = [value]
        axes.append((key, values))
    return [
        dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])
    ]


def _applies(key: str, model: str) -> bool:
    """Whether option ``key`` is one of ``model``'s runs' (train.* and data.* always are)."""
    try:
        option_key(RunConfig(model=model), key)
    except ConfigError:
        return False
    return True


def _points_of(name: str, points: list[dict]) -> list[dict]:
    """Model ``name``'s distinct points: the grid without the axes it does not take."""
    distinct = {}
    for point in points:
        mine = {k: v for k, v in point.items() if _applies(k, name)}
        distinct.setdefault(point_key(mine), mine)
    return list(distinct.values())


class Plan:
    """What a comparison runs, checked before anything trains: per model its search space and
    the ``--set`` assignments that apply to it."""

    def __init__(self, settings: dict):
        self.settings = s = settings
        self.models = list(s["models"])
        for name in self.models:
            model_class(name)  # unknown names fail before anything runs
        if s["seeds"] < 1:
            raise MMGraphError(f"--seeds must be >= 1, got {s['seeds']}")
        if not 1 <= s["screen_seeds"] <= s["seeds"]:
            raise MMGraphError(
                f"--screen-seeds must be in [1, --seeds={s['seeds']}], got {s['screen_seeds']}"
            )
        keys = {text: parse_assignment(text)[0] for text in s["sets"]}
        nowhere = [
            text for text, key in keys.items() if not any(_applies(key, m) for m in self.models)
        ]
        if nowhere:
            raise ConfigError(
                f"--set {nowhere[0]}: none of {', '.join(self.models)} takes that option; "
                "see `python cli.py options --model NAME`"
            )
        self.sets = {m: [t for t, key in keys.items() if _applies(key, m)] for m in self.models}
        grid = parse_grid(s["grid"]) if s["grid"] else None
        if grid is not None:
            unknown = [k for k in grid[0] if not any(_applies(k, m) for m in self.models)]
            if unknown:
                raise ConfigError(
                    f"--grid: {', '.join(unknown)} is not an option of any of "
                    f"{', '.join(self.models)}; see `python cli.py options --model NAME`"
                )
        self.spaces: dict[str, SearchSpace] = {}
        saved = s.get("spaces") or {}  # a resumed comparison keeps the spaces it started with
        for name in self.models:
            if name in saved:
                file = saved[name].get("file")
                self.spaces[name] = SearchSpace(
                    name,
                    saved[name]["grid"],
                    saved[name]["reference"],
                    path=Path(file) if file else None,
                )
            elif not model_class(name).capabilities.trainable:
                self.spaces[name] = SearchSpace(name, reference="nothing to train")
            elif grid is not None:
                points = _points_of(name, grid)
                axes = {k: list(dict.fromkeys(p[k] for p in points)) for k in points[0]}
                self.spaces[name] = SearchSpace(name, axes, "--grid")
            else:
                self.spaces[name] = load_search_space(name, s["search_dir"])
        s["spaces"] = {
            m: {"grid": space.grid, "reference": space.reference, "file": str(space.path or "")}
            for m, space in self.spaces.items()
        }
        self.base = self.config(self.models[0], {}, 0)  # bad options fail before anything runs

    def config(self, name: str, point: dict, seed: int) -> RunConfig:
        s = self.settings
        return resolve_config(
            s["dataset"],
            sets=self.sets[name] + [f"{k}={v}" for k, v in point.items()] + [f"train.seed={seed}"],
            model=name,
            **s["options"],
        )

    def check(self) -> None:
        """Load the data once (missing or broken data fail here, then come from the cache) and
        check every model's every point."""
        d = self.base.data
        load_records(
            d.name,
            d.root,
            synthetic=d.synthetic,
            scale=d.scale,
            split=d.split,
            normalize=d.normalize,
            pca=d.pca,
            cold_items=d.cold_items,
        )
        for name in self.models:
            for point in self.spaces[name].points():
                try:
                    cfg = self.config(name, point, 0)
                    cfg.train.check()
                    check_options(cfg.model, cfg.model_args)
                except MMGraphError as exc:
                    where = self.spaces[name].path or "--grid"
                    raise ConfigError(
                        f"{where}: grid point {point_label(point)} for {name}: {exc}"
                    ) from exc
