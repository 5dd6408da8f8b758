"""GRCN: the user-item graph re-weighted (refined) by how well each item's content fits each user."""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import scatter, softmax

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.nn import edge_weights

EDGE_FUSIONS = ("mean", "max")


class GRCN(FeatureRecommender):
    r"""GRCN from `"Graph-Refined Convolutional Network for Multimedia Recommendation with
    Implicit Feedback" <https://arxiv.org/abs/2111.02036>`_ (Wei et al., MM 2020).

    Per modality :math:`m`, item content :math:`\mathbf{c}^m_i = \mathrm{norm}(\mathbf{W}_m
    \mathbf{x}^m_i)`; each user's prototype :math:`\mathbf{p}^m_u` comes from ``routing``
    iterations of prototypical routing over the user's training items,

    .. math::
        \mathbf{p}^m_u \leftarrow \mathrm{norm}\Big(\sum_{i \in \mathcal{N}(u)}
        \mathrm{softmax}_{i \in \mathcal{N}(u)}(\mathbf{p}^{m\top}_u\mathbf{c}^m_i)\,
        \mathbf{c}^m_i\Big)

    (starting from the mean), and each interaction gets the confidence
    :math:`s_{ui} = \mathrm{fuse}_m \max(0, \mathbf{p}^{m\top}_u\mathbf{c}^m_i)` (edges the
    content contradicts are pruned to zero).  The ID embeddings are propagated over the refined,
    symmetrically normalized graph (LightGCN-style mean of ``num_layers`` layers; the original
    uses a GCN layer with weights), and the final vectors concatenate the propagated IDs with
    the prototypes (users) or contents (items) of every modality.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): ID embedding size. (default: 64)
        content_dim (int): Size of :math:`\mathbf{c}^m` and :math:`\mathbf{p}^m`. (default: 64)
        num_layers (int): Propagation layers over the refined graph. (default: 2)
        routing (int): Routing iterations. (default: 3)
        edge_fusion (str): ``"mean"`` or ``"max"`` over modalities. (default: ``"max"``)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): Weight of the L2 penalty on the batch's ID embeddings. (default: 1e-4)
    """

    def __init__(self, num_users: int, num_items: int, modality_dims: Mapping[str, int],
                 bag_vocab: Mapping[str, int] | None = None, *, embedding_dim: int = 64, content_dim: int = 64,
                 num_layers: int = 2, routing: int = 3, edge_fusion: str = "max", word_dim: int = 64,
                 reg_weight: float = 1e-4):
        super().__init__()
        if edge_fusion not in EDGE_FUSIONS:
            raise ValueError(f"GRCN: edge_fusion must be one of {EDGE_FUSIONS}, got '{edge_fusion}'")
        if routing < 1:
            raise ValueError(f"GRCN: routing must be >= 1, got {routing}")
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.routing, self.edge_fusion, self.reg_weight = num_layers, routing, edge_fusion, reg_weight
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="GRCN")
        self.project = ModuleDict({m: Linear(d, content_dim, weight_initializer="glorot")
                                   for m, d in self.inputs.dims.items()})
        self.ids = Embedding(num_users + num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in self.project.values():
            lin.reset_parameters()
        torch.nn.init.xavier_uniform_(self.ids.weight)

    def prototypes(self, content: Tensor, users: Tensor, items: Tensor) -> Tensor:
        """User prototypes ``[U, d]`` by prototypical routing over the (user, item) pairs."""
        c = content[items]
        p = F.normalize(scatter(c, users, 0, dim_size=self.num_users, reduce="mean"), dim=1)
        for _ in range(self.routing - 1):
            attention = softmax((p[users] * c).sum(-1), users, num_nodes=self.num_users)
            p = F.normalize(scatter(attention.unsqueeze(-1) * c, users, 0, dim_size=self.num_users), dim=1)
        return p

    def embed(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        users, items = graph.edge_index
        contents, protos, confidence = [], [], []
        for m, x in self.inputs(graph).items():
            c = F.normalize(self.project[m](x), dim=1)
            p = self.prototypes(c, users, items)
            contents.append(c)
            protos.append(p)
            confidence.append((p[users] * c[items]).sum(-1).relu())
        stacked = torch.stack(confidence)
        w = stacked.mean(0) if self.edge_fusion == "mean" else stacked.max(0).values
        n = self.num_users + self.num_items
        src, dst = both = graph.homogeneous_edge_index()  # user->item edges, then item->user
        norm = edge_weights(both, n, n, "gcn", torch.cat([w, w]))
        h = out = self.ids.weight
        for _ in range(self.num_layers):
            h = scatter(norm.unsqueeze(-1) * h[src], dst, 0, dim_size=n)
            out = out + h
        out = out / (self.num_layers + 1)
        return (torch.cat([out[: self.num_users], *protos], dim=-1),
                torch.cat([out[self.num_users:], *contents], dim=-1))

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        return self.l2_penalty(self.reg_weight, self.ids.weight[users], self.ids.weight[self.num_users + items])

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, modalities={list(self.project)}"
