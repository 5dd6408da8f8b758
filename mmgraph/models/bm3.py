"""BM3: self-supervised multimodal recommendation without negative samples."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Rate, Size, Weight
from mmgraph.nn import smooth_users_items


def _distance(online: Tensor, target: Tensor) -> Tensor:
    return 1 - F.cosine_similarity(online, target.detach(), dim=-1).mean()


class BM3(FeatureRecommender):
    r"""BM3 from `"Bootstrap Latent Representations for Multi-modal Recommendation"
    <https://arxiv.org/abs/2207.05969>`_ (Zhou et al., WWW 2023).

    LightGCN over the ID embeddings gives :math:`\mathbf{u}, \mathbf{i}` (plus the item's own
    ID embedding); a shared predictor :math:`f` gives the online views, and dropout on detached
    copies the target views (no negative sampling):

    .. math::
        \mathcal{L} = d(f(\mathbf{u}), \tilde{\mathbf{i}}) + d(f(\mathbf{i}), \tilde{\mathbf{u}})
        + \lambda_{cl}\sum_m \big(d(f(\mathbf{W}_m\mathbf{x}^m_i), \tilde{\mathbf{i}})
        + d(f(\mathbf{W}_m\mathbf{x}^m_i), \widetilde{\mathbf{W}_m\mathbf{x}^m_i})\big)

    with :math:`d(a, b) = 1 - \cos(a, b)` averaged over the batch's (user, item) pairs and
    :math:`\tilde{\cdot}` = dropout on a detached copy.  Scores are
    :math:`f(\mathbf{u})^\top f(\mathbf{i})`.  The sampled negatives are ignored.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): Embedding size. (default: 64)
        num_layers (int): LightGCN layers. (default: 1)
        dropout (float): Dropout that makes the target views. (default: 0.5)
        cl_weight (float): Weight :math:`\lambda_{cl}` of the modality terms. (default: 2.0)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): Weight :math:`\lambda` of MMRec's ``EmbLoss`` on every user's and
            item's vector before the predictor, :math:`\lambda(\|\mathbf{U}\|_F + \|\mathbf{I}\|_F) / I`
            (norms not squared), as the reference regularizes. (default: 1e-4)

    Trained as MMRec trains it (``src/models/bm3.py``, ``configs/model/BM3.yaml``): ID tables
    ``xavier_uniform``, the predictor and the modality transforms ``xavier_normal`` with zero
    biases, and the regularizer above.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        num_layers: Count = 1,
        dropout: Rate = 0.5,
        cl_weight: Weight = 2.0,
        word_dim: Size = 64,
        reg_weight: Weight = 1e-4,
    ):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.dropout, self.cl_weight, self.reg_weight = (
            num_layers,
            dropout,
            cl_weight,
            reg_weight,
        )
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="BM3")
        self.transforms = ModuleDict(
            {m: Linear(d, embedding_dim) for m, d in self.inputs.dims.items()}
        )
        self.predictor = Linear(embedding_dim, embedding_dim)
        self.user = Embedding(num_users, embedding_dim)
        self.item = Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in (*self.transforms.values(), self.predictor):
            torch.nn.init.xavier_normal_(lin.weight)
            torch.nn.init.zeros_(lin.bias)
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)

    def encode(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        """LightGCN user and item vectors before the predictor."""
        user, item = smooth_users_items(
            graph.adjacency("gcn"), self.user.weight, self.item.weight, self.num_layers
        )
        return user, item + self.item.weight

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        user, item = self.encode(graph)
        return self.predictor(user), self.predictor(item)

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        all_users, all_items = self.encode(graph)
        user, item = all_users[users], all_items[pos]
        user_target, item_target = (
            F.dropout(v.detach(), self.dropout, self.training) for v in (user, item)
        )
        loss = _distance(self.predictor(user), item_target) + _distance(
            self.predictor(item), user_target
        )
        for m, x in self.inputs(graph).items():
            feature = self.transforms[m](x[pos])
            feature_target = F.dropout(feature.detach(), self.dropout, self.training)
            online = self.predictor(feature)
            loss = loss + self.cl_weight * (
                _distance(online, item_target) + _distance(online, feature_target)
            )
        return loss + self.norm_penalty(self.reg_weight, all_users, all_items)

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, modalities={list(self.transforms)}"
