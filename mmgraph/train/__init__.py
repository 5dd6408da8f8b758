"""Training and evaluation: sampling, BPR, full-ranking metrics, the trainer, checkpoints, runs."""

from mmgraph.nn.losses import bpr_loss
from mmgraph.train.config import ConfigError, DataConfig, RunConfig, TrainConfig
from mmgraph.train.itemsets import UserItemSets
from mmgraph.train.metrics import full_ranking
from mmgraph.train.recommend import recommend, recommend_new
from mmgraph.train.run import evaluate_run, format_table, load_run, resolve_config, train_run
from mmgraph.train.sampling import sample_negatives
from mmgraph.train.trainer import Experiment, Trainer

__all__ = [
    "ConfigError",
    "DataConfig",
    "Experiment",
    "RunConfig",
    "TrainConfig",
    "Trainer",
    "UserItemSets",
    "bpr_loss",
    "evaluate_run",
    "format_table",
    "full_ranking",
    "load_run",
    "recommend",
    "recommend_new",
    "resolve_config",
    "sample_negatives",
    "train_run",
]
