"""FREEDOM: LightGCN on a denoised user-item graph plus a frozen item-item feature graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch.nn import Embedding, ModuleDict
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Rate, Size, Weight
from mmgraph.nn import edge_weights, knn_propagate_mix, smooth_users_items


class FREEDOM(FeatureRecommender):
    r"""FREEDOM from `"A Tale of Two Graphs: Freezing and Denoising Graph Structures for
    Multimodal Recommendation" <https://arxiv.org/abs/2211.06924>`_ (Zhou and Shen, MM 2023).

    The item-item graph is frozen: the modalities' kNN graphs of the raw features (``knn_k``
    neighbours, unweighted, symmetrically normalized) summed with weights
    :math:`w_m`; it propagates the item ID embeddings.  The user-item graph is denoised: before
    every training epoch a share ``1 - edge_dropout`` of the interactions is kept, sampled with
    probability :math:`\propto 1/\sqrt{d_u d_i}`, and LightGCN runs on it (on the full graph at
    evaluation):

    .. math::
        \mathbf{h} = \Big(\sum_m w_m \hat{\mathbf{S}}^m\Big)^{L_i}\mathbf{e}^{id}, \qquad
        \mathbf{e}_i = \mathbf{e}^{LightGCN}_i + \mathbf{h}_i

    The loss adds, with weight ``modality_loss_weight``, a BPR loss of each modality's projected
    features :math:`\mathbf{W}_m\mathbf{x}^m_i` scored against the user embeddings.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): ID embedding size. (default: 64)
        knn_k (int): Neighbours per item. (default: 10)
        item_layers (int): Item-graph layers :math:`L_i`. (default: 1)
        ui_layers (int): LightGCN layers. (default: 2)
        edge_dropout (float): Share of interactions dropped each epoch. (default: 0.8)
        modality_weights (list of float, optional): :math:`w_m` in modality order; equal by
            default (the paper uses 0.1 image, 0.9 text on Amazon).
        modality_loss_weight (float): Weight of the modality BPR losses. (default: 1e-4)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): Weight of an L2 penalty on the batch's ID embeddings. (default: 0.0)
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        knn_k: Size = 10,
        item_layers: Count = 1,
        ui_layers: Count = 2,
        edge_dropout: Rate = 0.8,
        modality_weights: Sequence[Weight] | None = None,
        modality_loss_weight: Weight = 1e-4,
        word_dim: Size = 64,
        reg_weight: Weight = 0.0,
    ):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="FREEDOM")
        names = list(self.inputs.dims)
        if modality_weights is None:
            modality_weights = [1.0 / len(names)] * len(names)
        if len(modality_weights) != len(names):
            raise ValueError(
                f"FREEDOM: modality_weights needs one weight per modality {names}, "
                f"got {list(modality_weights)}"
            )
        if knn_k < 1 or not 0.0 <= edge_dropout < 1.0:
            raise ValueError(
                f"FREEDOM: needs knn_k >= 1 and edge_dropout in [0, 1), got {knn_k}, {edge_dropout}"
            )
        self.modality_weights = dict(zip(names, map(float, modality_weights)))
        self.knn_k, self.item_layers, self.ui_layers = knn_k, item_layers, ui_layers
        self.edge_dropout, self.modality_loss_weight, self.reg_weight = (
            edge_dropout,
            modality_loss_weight,
            reg_weight,
        )
        self.transforms = ModuleDict(
            {
                m: Linear(d, embedding_dim, weight_initializer="glorot")
                for m, d in self.inputs.dims.items()
            }
        )
        self.user = Embedding(num_users, embedding_dim)
        self.item = Embedding(num_items, embedding_dim)
        self._pruned: Tensor | None = None  # this epoch's denoised adjacency
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in self.transforms.values():
            lin.reset_parameters()
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)
        self._pruned = None

    def start_epoch(self, graph: RecGraph, generator: torch.Generator) -> None:
        edges = graph.edge_index
        p = edge_weights(edges, graph.num_users, graph.num_items, "gcn")  # 1 / sqrt(d_u d_i)
        keep = torch.multinomial(
            p, max(1, int(edges.size(1) * (1 - self.edge_dropout))), generator=generator
        )
        self._pruned = RecGraph(graph.num_users, graph.num_items, edges[:, keep]).adjacency("gcn")

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        graphs = [
            (w, *graph.item_graph(m, self.knn_k, weighted=False))
            for m, w in self.modality_weights.items()
        ]
        h = knn_propagate_mix(self.item.weight, graphs, self.item_layers)
        pruned = (
            self._pruned if self.training else None
        )  # None before the first epoch, too: the full graph
        user, item = smooth_users_items(
            graph.adjacency("gcn") if pruned is None else pruned,
            self.user.weight,
            self.item.weight,
            self.ui_layers,
        )
        return user, item + h

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        user_emb, item_emb = self(graph)
        loss = self.bpr(user_emb, item_emb, users, pos, negs)
        loss = loss + self.l2_penalty(
            self.reg_weight, self.user.weight[users], self.item.weight[pos]
        )
        if self.modality_loss_weight:
            loss = loss + self.modality_loss_weight * sum(
                self.bpr(user_emb, self.transforms[m](x), users, pos, negs)
                for m, x in self.inputs(graph).items()
            )
        return loss

    def extra_repr(self) -> str:
        return (
            f"users={self.num_users}, items={self.num_items}, modalities={list(self.modality_weights)}, "
            f"knn_k={self.knn_k}, edge_dropout={self.edge_dropout}"
        )
