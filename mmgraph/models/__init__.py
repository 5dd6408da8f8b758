"""Recommenders assembled from :mod:`mmgraph.nn`, all with the :class:`Recommender` interface."""

from mmgraph.models.base import Recommender
from mmgraph.models.graph import RecGraph
from mmgraph.models.metammf import MetaMMF

__all__ = ["MetaMMF", "RecGraph", "Recommender"]
