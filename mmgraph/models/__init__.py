"""Recommenders assembled from :mod:`mmgraph.nn`, all with the :class:`Recommender` interface."""

from __future__ import annotations

import typing

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
from mmgraph.models.options import check_model_options, constructor_options, option_specs
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


def model_class(name: str) -> type[Recommender]:
    if name not in MODELS:
        raise MMGraphError(f"unknown model '{name}'; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def model_options(name: str) -> dict[str, object]:
    """The options of model ``name`` with their defaults (see :func:`constructor_options`)."""
    return constructor_options(model_class(name))


def model_option_types(name: str) -> dict[str, object]:
    """The real types of a model's options, from its constructor's annotations (ranges
    stripped: see :func:`option_specs`)."""
    hints = typing.get_type_hints(model_class(name).__init__)
    return {k: hints.get(k, typing.Any) for k in model_options(name)}


def check_options(name: str, options: dict) -> None:
    """:class:`MMGraphError` for an option model ``name`` does not take, or a value outside the
    range or choices its annotation declares (:func:`check_model_options`)."""
    check_model_options(model_class(name), name, options)


def model_option_notes(name: str) -> dict[str, str]:
    """What each option of model ``name`` may be (its declared range or choices) and, for a
    default that depends on the variant, its value in the other variants: ``"an integer >= 0;
    paper-gcn: 32, paper-mf: 32"``."""
    cls = model_class(name)
    specs = option_specs(cls)
    notes = {k: spec.allowed() for k, spec in specs.items()}
    variants = specs["variant"].choices if "variant" in specs else ()
    if variants:
        resolved = {v: cls.resolved_options({"variant": v}) for v in variants}
        default = cls.resolved_options()
        for key, value in default.items():
            other = [f"{v}: {r[key]!r}" for v, r in resolved.items() if r[key] != value]
            if other and key != "variant":
                notes[key] = "; ".join(filter(None, [notes.get(key), ", ".join(other)]))
    return notes


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
    "model_option_notes",
    "model_options",
    "option_specs",
]
