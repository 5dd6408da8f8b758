"""Training: the config a run resolves, negative sampling, the optimizer and the training loop."""

from mmgraph.train.config import ConfigError, DataConfig, RunConfig, TrainConfig
from mmgraph.train.negatives import sample_negatives
from mmgraph.train.trainer import Trainer

__all__ = ["ConfigError", "DataConfig", "RunConfig", "TrainConfig", "Trainer", "sample_negatives"]
