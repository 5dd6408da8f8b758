"""Recommenders assembled from :mod:`mmgraph.nn`, all with the :class:`Recommender` interface."""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable

from mmgraph.errors import MMGraphError
from mmgraph.models.base import Capabilities, Recommender
from mmgraph.models.bm3 import BM3
from mmgraph.models.content_knn import ContentKNN
from mmgraph.models.freedom import FREEDOM
from mmgraph.models.graph import GraphView, RecGraph, SampledGraph
from mmgraph.models.grcn import GRCN
from mmgraph.models.lattice import LATTICE
from mmgraph.models.lgmrec import LGMRec
from mmgraph.models.lightgcn import BPRMF, LightGCN
from mmgraph.models.metammf import MetaMMF
from mmgraph.models.mmgcn import MMGCN
from mmgraph.models.popularity import Popularity
from mmgraph.models.vbpr import VBPR

MODELS: dict[str, type[Recommender]] = {
    "metammf": MetaMMF,
    "lightgcn": LightGCN,
    "bprmf": BPRMF,
    "vbpr": VBPR,
    "mmgcn": MMGCN,
    "grcn": GRCN,
    "lattice": LATTICE,
    "freedom": FREEDOM,
    "bm3": BM3,
    "lgmrec": LGMRec,
    "popularity": Popularity,
    "content-knn": ContentKNN,
}


def model_options(name: str) -> dict[str, object]:
    """The keyword options of model ``name`` with their defaults."""
    cls = model_class(name)
    params = inspect.signature(cls.__init__).parameters
    return {
        k: p.default
        for k, p in params.items()
        if p.default is not inspect.Parameter.empty and k != "self"
    }


def model_option_types(name: str) -> dict[str, object]:
    """The real types of a model's options, from its constructor's annotations."""
    cls = model_class(name)
    hints = typing.get_type_hints(cls.__init__)
    return {k: hints.get(k, typing.Any) for k in model_options(name)}


def model_class(name: str) -> type[Recommender]:
    if name not in MODELS:
        raise MMGraphError(f"unknown model '{name}'; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def _allowed_range(key: str) -> tuple[str, Callable[[float], bool]]:
    """What a numeric model option may be, by its name's convention across the models."""
    if key.endswith("dropout"):
        return "in [0, 1)", lambda v: 0 <= v < 1
    if "layers" in key:
        return ">= 0", lambda v: v >= 0
    if key in ("id_dim", "fused_dim"):  # MetaMMF's ablations: no item ID, or no content
        return ">= 0", lambda v: v >= 0
    if key.endswith(("dim", "rank", "hidden", "k")) or key == "hyperedges":
        return ">= 1", lambda v: v >= 1
    return "a finite number >= 0", lambda v: math.isfinite(v) and v >= 0


def check_options(name: str, options: dict) -> None:
    """:class:`MMGraphError` for an option model ``name`` does not take, or a number out of its
    range (sizes >= 1, layer counts >= 0, dropout in [0, 1), weights finite and >= 0); the
    model's constructor checks the rest."""
    known = model_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise MMGraphError(
            f"unknown option(s) {', '.join(unknown)} for model '{name}'; "
            f"it takes {', '.join(known)}"
        )
    for key, value in options.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            want, ok = _allowed_range(key)
            if not ok(value):
                raise MMGraphError(
                    f"model '{name}': {key}={value} must be {want}; see `python cli.py options "
                    f"--model {name}`"
                )


def build_model(name: str, graph: RecGraph, **options) -> Recommender:
    """Model ``name`` sized for ``graph``; options are checked (:func:`check_options`)."""
    check_options(name, options)
    try:
        return model_class(name).from_graph(graph, **options)
    except (ValueError, TypeError) as exc:  # the model's own argument checks
        raise MMGraphError(f"model '{name}': {exc}") from exc


__all__ = [
    "BM3",
    "BPRMF",
    "Capabilities",
    "ContentKNN",
    "FREEDOM",
    "GRCN",
    "GraphView",
    "LATTICE",
    "LGMRec",
    "MMGCN",
    "MODELS",
    "LightGCN",
    "MetaMMF",
    "Popularity",
    "RecGraph",
    "SampledGraph",
    "Recommender",
    "VBPR",
    "build_model",
    "check_options",
    "model_options",
]
