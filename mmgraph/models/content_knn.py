"""Content-based item kNN: the cold-start baseline that needs no training."""

from __future__ import annotations

import torch
from torch import Tensor

from mmgraph.models.base import Capabilities, Recommender
from mmgraph.models.graph import RecGraph
from mmgraph.models.options import Size
from mmgraph.nn.knn import cosine_knn, unit_rows


class ContentKNN(Recommender):
    r"""Item-kNN on content features: each item's ``k`` most similar *trained* items (those with
    training interactions) by the cosine of their features, and

    .. math::
        y_{ui} = \sum_{j \in \mathcal{N}_k(i) \cap \mathcal{I}_u} \max(\cos(\mathbf{f}_i, \mathbf{f}_j), 0)

    where :math:`\mathcal{I}_u` are the user's training items and :math:`\mathbf{f}_i` the item's
    modalities, each scaled to unit norm, concatenated and divided by :math:`\sqrt{M}` (so the
    cosine is the mean of the per-modality cosines).  Items need only features, so cold items
    are scored as any other; this is the classic content-kNN baseline of cold-start work.

    Has no trainable parameters: evaluate it directly (``Experiment.evaluate``).

    Args:
        num_users (int), num_items (int): Graph sizes.
        k (int): Neighbours per item. (default: 50)
    """

    capabilities = Capabilities(trainable=False)

    def __init__(self, num_users: int, num_items: int, *, k: Size = 50):
        super().__init__()
        if k < 1:
            raise ValueError(f"ContentKNN: k must be at least 1, got {k}")
        self.num_users, self.num_items, self.k = num_users, num_items, k

    @classmethod
    def from_graph(cls, graph: RecGraph, **kwargs) -> ContentKNN:
        if not graph.modalities:
            raise ValueError("ContentKNN needs item features; the dataset has none")
        return cls(graph.num_users, graph.num_items, **kwargs)

    @staticmethod
    def item_vectors(graph: RecGraph) -> Tensor:
        """``[I, sum D_m]`` unit-norm rows: every modality at unit norm, weighted equally
        (sparse COO when a modality is a bag of words)."""
        scale = len(graph.modalities) ** -0.5
        parts = [unit_rows(graph.item_matrix(m)) * scale for m in graph.modalities]
        if not any(p.is_sparse for p in parts):
            return torch.cat(parts, dim=1)
        return torch.cat([p if p.is_sparse else p.to_sparse() for p in parts], dim=1).coalesce()

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        """User side: the ``[U, I]`` training interactions (sparse COO); item side: the
        ``[I, I]`` kNN similarity matrix (sparse CSR, row = item scored)."""
        trained = torch.unique(graph.edge_index[1])
        k = min(self.k, trained.numel())
        index, sim = cosine_knn(self.item_vectors(graph), k, among=trained)
        rows = torch.arange(graph.num_items, device=index.device).repeat_interleave(k)
        similarity = (
            torch.sparse_coo_tensor(
                torch.stack([rows, index.flatten()]),
                sim.flatten().clamp(min=0),
                (graph.num_items, graph.num_items),
            )
            .coalesce()
            .to_sparse_csr()
        )
        ones = torch.ones(graph.edge_index.size(1), device=index.device)
        interactions = torch.sparse_coo_tensor(
            graph.edge_index, ones, (graph.num_users, graph.num_items)
        )
        return interactions.coalesce(), similarity

    def full_scores(self, user_emb: Tensor, item_emb: Tensor, users: Tensor) -> Tensor:
        history = user_emb.index_select(0, users).to_dense()  # [B, I]
        return (item_emb @ history.t()).t()

    def score(self, user_emb: Tensor, item_emb: Tensor, users: Tensor, items: Tensor) -> Tensor:
        return self.full_scores(user_emb, item_emb, users)[torch.arange(users.numel()), items]

    def extra_repr(self) -> str:
        return f"k={self.k}, users={self.num_users}, items={self.num_items}"
