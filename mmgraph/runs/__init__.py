"""A run's life: its context, folder and checkpoints, and the workflows built on runs
(train, evaluate, compare / sweep, recommend, export)."""

from mmgraph.runs.api import evaluate_run, load_run, resolve_config, train_run
from mmgraph.runs.context import Experiment
from mmgraph.runs.recommend import recommend, recommend_new

__all__ = [
    "Experiment",
    "evaluate_run",
    "load_run",
    "recommend",
    "recommend_new",
    "resolve_config",
    "train_run",
]
