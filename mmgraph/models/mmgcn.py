"""MMGCN: one graph convolution network per modality over the user-item graph."""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, Module, ModuleDict, ModuleList
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.nn import spmm


class ModalityGCN(Module):
    r"""MMGCN's graph network for one modality :math:`m`. Users start from a learned preference
    :math:`\mathbf{P}^m`, items from their projected features; every layer :math:`l` computes

    .. math::
        \mathbf{h} &= \mathrm{LReLU}(\hat{\mathbf{A}}\,\mathbf{x}\mathbf{W}_c), \qquad
        \hat{\mathbf{x}} = \mathrm{LReLU}(\mathbf{x}\mathbf{W}_s + \mathbf{b}_s) + \mathbf{e}^{id} \\
        \mathbf{x}' &= \mathrm{LReLU}([\mathbf{h} \,\|\, \hat{\mathbf{x}}]\mathbf{W}_g + \mathbf{b}_g)
        \ \text{(concat)} \quad\text{or}\quad
        \mathrm{LReLU}(\mathbf{h}\mathbf{W}_g + \mathbf{b}_g + \hat{\mathbf{x}})\ \text{(element-wise)}

    with :math:`\hat{\mathbf{A}}` the mean-normalized user-item adjacency and
    :math:`\mathbf{e}^{id}` the shared (trainable) ID embeddings of users and items.

    Shapes:
        - **input:** item features :math:`(I, F_m)`, ``adj_t`` :math:`(U + I, U + I)`, ID
          embeddings :math:`(U + I, d)`
        - **output:** :math:`(U + I, d)`
    """

    def __init__(self, num_users: int, in_channels: int, channels: int, num_layers: int, concat: bool):
        super().__init__()
        self.concat = concat
        self.preference = Embedding(num_users, channels)
        self.project = Linear(in_channels, channels, weight_initializer="glorot")
        self.conv = ModuleList([Linear(channels, channels, bias=False, weight_initializer="glorot")
                                for _ in range(num_layers)])
        self.self_lin = ModuleList([Linear(channels, channels, weight_initializer="glorot")
                                    for _ in range(num_layers)])
        self.combine = ModuleList([Linear(2 * channels if concat else channels, channels,
                                          weight_initializer="glorot") for _ in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_normal_(self.preference.weight)
        for layer in (self.project, *self.conv, *self.self_lin, *self.combine):
            layer.reset_parameters()

    def forward(self, features: Tensor, adj_t, ids: Tensor) -> Tensor:
        x = F.normalize(torch.cat([self.preference.weight, self.project(features)], dim=0))
        for conv, self_lin, combine in zip(self.conv, self.self_lin, self.combine):
            h = F.leaky_relu(spmm(adj_t, conv(x)))
            x_hat = F.leaky_relu(self_lin(x)) + ids
            x = F.leaky_relu(combine(torch.cat([h, x_hat], dim=-1)) if self.concat else combine(h) + x_hat)
        return x


class MMGCN(FeatureRecommender):
    r"""MMGCN from `"MMGCN: Multi-modal Graph Convolution Network for Personalized
    Recommendation of Micro-video" <https://arxiv.org/abs/1908.06765>`_ (Wei et al., MM 2019):
    a :class:`ModalityGCN` per modality; users and items are the mean of the modalities'
    outputs, scored by a dot product.

    Unlike the released code (and MMRec's port), the per-modality user preferences and the ID
    embeddings are trainable parameters, the concat / element-wise switch changes the combine
    layer, and ``num_layers`` layers are built.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): Size of every representation. (default: 64)
        num_layers (int): Layers per modality. (default: 2)
        concat (bool): Concat (``True``) or element-wise (``False``) combine. (default: ``True``)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): Weight of the L2 penalty on the batch's ID embeddings and user
            preferences. (default: 1e-4)
    """

    def __init__(self, num_users: int, num_items: int, modality_dims: Mapping[str, int],
                 bag_vocab: Mapping[str, int] | None = None, *, embedding_dim: int = 64, num_layers: int = 2,
                 concat: bool = True, word_dim: int = 64, reg_weight: float = 1e-4):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MMGCN: num_layers must be >= 1, got {num_layers}")
        self.num_users, self.num_items, self.reg_weight = num_users, num_items, reg_weight
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="MMGCN")
        self.gcns = ModuleDict({m: ModalityGCN(num_users, d, embedding_dim, num_layers, concat)
                                for m, d in self.inputs.dims.items()})
        self.ids = Embedding(num_users + num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for gcn in self.gcns.values():
            gcn.reset_parameters()
        torch.nn.init.xavier_normal_(self.ids.weight)

    def embed(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        adj_t = graph.adjacency("mean")
        out = torch.stack([self.gcns[m](x, adj_t, self.ids.weight) for m, x in self.inputs(graph).items()]).mean(0)
        return out[: self.num_users], out[self.num_users:]

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        prefs = [gcn.preference.weight[users] for gcn in self.gcns.values()]
        return self.l2_penalty(self.reg_weight, self.ids.weight[users], self.ids.weight[self.num_users + items], *prefs)

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, modalities={list(self.gcns)}"
