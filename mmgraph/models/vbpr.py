"""VBPR: matrix factorization with a visual (here: all modalities) content factor."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Rate, Size, Weight


class VBPR(FeatureRecommender):
    r"""VBPR from `"VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback"
    <https://arxiv.org/abs/1510.01784>`_ (He and McAuley, AAAI 2016), with the concatenated
    modality features as the content (as MMRec does):

    .. math::
        y_{ui} = \beta_i + \boldsymbol{\gamma}_u^\top\boldsymbol{\gamma}_i
        + \boldsymbol{\theta}_u^\top(\mathbf{E}\mathbf{f}_i) + \boldsymbol{\beta}'^\top\mathbf{f}_i,
        \qquad \mathbf{f}_i = [\mathbf{x}^{1}_i \,\|\, \cdots \,\|\, \mathbf{x}^{M}_i]

    computed as one dot product of :math:`[\boldsymbol{\gamma}_u \| \boldsymbol{\theta}_u \| 1]`
    with :math:`[\boldsymbol{\gamma}_i \| \mathbf{E}\mathbf{f}_i \| \beta_i +
    \boldsymbol{\beta}'^\top\mathbf{f}_i]`.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): Size of :math:`\boldsymbol{\gamma}` and of :math:`\boldsymbol{\theta}`. (default: 64)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        dropout (float): Dropout on the projected content :math:`\mathbf{E}\mathbf{f}_i`. (default: 0.0)
        reg_weight (float): Weight :math:`\lambda` of MMRec's ``EmbLoss`` on the batch's final
            rows, :math:`\lambda(\|[\Gamma_u \| \Theta_u]\|_F + \|[\Gamma_p \| \mathbf{E}\mathbf{F}_p]\|_F
            + \|[\Gamma_n \| \mathbf{E}\mathbf{F}_n]\|_F) / B` (norms not squared; the biases
            are not penalized). (default: 1e-4)

    Trained as MMRec trains it (``src/models/vbpr.py``, ``configs/model/VBPR.yaml``): user and
    item factors ``xavier_uniform``, the projection :math:`\mathbf{E}` ``xavier_normal``, and the
    regularizer above, the form the reference's ``reg_weight`` grid is for.  Unlike MMRec's
    version, the paper's bias terms :math:`\beta_i` and :math:`\boldsymbol{\beta}'` are kept.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        word_dim: Size = 64,
        dropout: Rate = 0.0,
        reg_weight: Weight = 1e-4,
    ):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.dropout, self.reg_weight = dropout, reg_weight
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="VBPR")
        content = sum(self.inputs.dims.values())
        self.user = Embedding(num_users, 2 * embedding_dim)  # [gamma_u, theta_u]
        self.item = Embedding(num_items, embedding_dim)  # gamma_i
        self.item_bias = Embedding(num_items, 1)  # beta_i
        self.content = Linear(content, embedding_dim, bias=False)  # E
        self.content_bias = Linear(content, 1, bias=False)  # beta', zero at the start as beta_i
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)
        torch.nn.init.zeros_(self.item_bias.weight)
        torch.nn.init.xavier_normal_(self.content.weight)
        torch.nn.init.zeros_(self.content_bias.weight)

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        f = torch.cat(list(self.inputs(graph).values()), dim=-1)
        content = F.dropout(self.content(f), self.dropout, self.training)
        item = torch.cat(
            [self.item.weight, content, self.item_bias.weight + self.content_bias(f)], dim=-1
        )
        user = torch.cat([self.user.weight, self.user.weight.new_ones(self.num_users, 1)], dim=-1)
        return user, item

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        user, item = self(graph)
        factors = (
            user[users, :-1],
            item[pos, :-1],
            item[negs.flatten(), :-1],
        )  # without the bias column
        return self.bpr(user, item, users, pos, negs) + self.norm_penalty(
            self.reg_weight, *factors, count=users.numel()
        )

    def extra_repr(self) -> str:
        return (
            f"users={self.num_users}, items={self.num_items}, modalities={list(self.inputs.dims)}"
        )
