"""Evaluation: per-user item sets, full-ranking metrics and paired significance tests."""

from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking
from mmgraph.eval.significance import paired_test, pool_users

__all__ = ["UserItemSets", "full_ranking", "paired_test", "pool_users"]
