"""The popularity baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import torch
from torch import Tensor

from mmgraph.models.base import Capabilities, Recommender
from mmgraph.models.graph import RecGraph


class Popularity(Recommender):
    """Scores item :math:`i` by its number of training interactions, the same for every user.

    Has no trainable parameters: evaluate it directly (``Experiment.evaluate``) without training.
    """

    capabilities = Capabilities(trainable=False)

    def __init__(self, num_users: int, num_items: int):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items

    @classmethod
    def from_graph(cls, graph: RecGraph) -> Popularity:
        return cls(graph.num_users, graph.num_items)

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        counts = torch.bincount(graph.edge_index[1], minlength=self.num_items).float()
        return torch.ones(self.num_users, 1, device=counts.device), counts.unsqueeze(1)
