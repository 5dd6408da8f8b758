"""LightGCN on the package's cached normalized adjacency."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Embedding

from mmgraph.models.base import Capabilities, Recommender
from mmgraph.models.graph import GraphView, RecGraph
from mmgraph.models.options import Count, Size, Weight
from mmgraph.nn.adjacency import smooth


class LightGCN(Recommender):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ (He et al., SIGIR 2020).

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}}\mathbf{E}^{(l)}, \qquad
        \mathbf{E} = \frac{1}{L+1}\sum_{l=0}^{L}\mathbf{E}^{(l)}

    with :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` the user-item
    graph without self-loops (the same as PyG's :class:`~torch_geometric.nn.models.LightGCN`),
    computed as a cached CSR product.  Uses no item features.

    Trained as MMRec trains it (``src/models/lightgcn.py``, ``configs/model/LightGCN.yaml``):
    user and item tables initialized ``xavier_uniform`` each, and the regularizer is MMRec's
    ``EmbLoss`` on the batch's layer-0 rows, :math:`\lambda(\|\mathbf{U}^{(0)}\|_F +
    \|\mathbf{P}^{(0)}\|_F + \|\mathbf{N}^{(0)}\|_F) / B` (norms not squared; ``N`` holds
    all the batch's negatives), the form the reference's ``reg_weight`` grid is for.

    Args:
        num_users (int), num_items (int): Graph sizes.
        embedding_dim (int): Embedding size. (default: 64)
        num_layers (int): Propagation layers :math:`L`. (default: 3)
        reg_weight (float): :math:`\lambda`. (default: 1e-4)
    """

    capabilities = Capabilities(hops=lambda model: model.num_layers)

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        embedding_dim: Size = 64,
        num_layers: Count = 3,
        reg_weight: Weight = 1e-4,
    ):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.reg_weight = num_layers, reg_weight
        self.embedding = Embedding(num_users + num_items, embedding_dim)
        self.reset_parameters()

    @classmethod
    def from_graph(cls, graph: RecGraph, **kwargs) -> LightGCN:
        return cls(graph.num_users, graph.num_items, **kwargs)

    def reset_parameters(self) -> None:
        # the reference's two tables [U, d] and [I, d], each xavier_uniform
        users, items = self.embedding.weight.data.split([self.num_users, self.num_items])
        torch.nn.init.xavier_uniform_(users)
        torch.nn.init.xavier_uniform_(items)

    def forward(self, graph: GraphView) -> tuple[Tensor, Tensor]:
        ids = (
            None
            if graph.user_ids is None
            else torch.cat([graph.user_ids, self.num_users + graph.item_ids])
        )
        ego = self.rows(self.embedding, ids)  # a sampled subgraph's rows, or all
        out = smooth(graph.adjacency("gcn"), ego, self.num_layers)
        return out[: graph.num_users], out[graph.num_users :]

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        """MMRec's ``EmbLoss`` of the layer-0 rows; ``items`` holds the positives, then the negatives."""
        batch = users.numel()
        rows = self.rows(self.embedding, torch.cat([users, self.num_users + items]))
        return self.norm_penalty(
            self.reg_weight, *rows.split([batch, batch, items.numel() - batch]), count=batch
        )

    def sparse_tables(self) -> list:
        return [self.embedding.weight]

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, num_layers={self.num_layers}"


class BPRMF(LightGCN):
    r"""Matrix factorization trained with BPR, from `"BPR: Bayesian Personalized Ranking from
    Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_ (Rendle et al., UAI 2009):
    :math:`y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i` with free user and item embeddings; this is
    :class:`LightGCN` with zero propagation layers.  As MMRec's ``BPR`` (``src/models/bpr.py``):
    both tables initialized ``xavier_normal``, and ``EmbLoss`` on the batch's rows.

    Args:
        num_users (int), num_items (int): Graph sizes.
        embedding_dim (int): Embedding size. (default: 64)
        reg_weight (float): Weight :math:`\lambda` of ``EmbLoss``,
            :math:`\lambda(\|\mathbf{U}\|_F + \|\mathbf{P}\|_F + \|\mathbf{N}\|_F) / B`. (default: 1e-4)
    """

    def __init__(
        self, num_users: int, num_items: int, *, embedding_dim: Size = 64, reg_weight: Weight = 1e-4
    ):
        super().__init__(
            num_users, num_items, embedding_dim=embedding_dim, num_layers=0, reg_weight=reg_weight
        )

    def reset_parameters(self) -> None:
        users, items = self.embedding.weight.data.split([self.num_users, self.num_items])
        torch.nn.init.xavier_normal_(users)
        torch.nn.init.xavier_normal_(items)

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}"
