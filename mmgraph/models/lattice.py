"""LATTICE: LightGCN plus item-item graphs learned from each modality's features."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict, Parameter
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Fraction, Size, Weight
from mmgraph.nn import cosine_knn, knn_propagate_mix, knn_weights, smooth_users_items


class LATTICE(FeatureRecommender):
    r"""LATTICE from `"Mining Latent Structures for Multimedia Recommendation"
    <https://arxiv.org/abs/2104.09036>`_ (Zhang et al., MM 2021), with the LightGCN backbone
    of its MMRec configuration.

    Per modality :math:`m`, a kNN graph :math:`\hat{\mathbf{S}}^m` of the raw features (fixed)
    and one :math:`\hat{\mathbf{A}}^m` of the learned features :math:`\mathbf{W}_m\mathbf{x}^m_i`
    (cosine similarities of the ``knn_k`` nearest items, symmetrically normalized) are mixed,
    and the modalities are combined with softmax weights :math:`\alpha`:

    .. math::
        \mathbf{S} = \sum_m \mathrm{softmax}(\alpha)_m \big((1 - \lambda)\hat{\mathbf{A}}^m
        + \lambda\hat{\mathbf{S}}^m\big), \qquad
        \mathbf{h} = \mathbf{S}^{L_i}\mathbf{e}^{id}, \qquad
        \mathbf{e}_i = \mathbf{e}^{LightGCN}_i + \mathbf{h}_i / \lVert\mathbf{h}_i\rVert

    Which items are neighbours in :math:`\hat{\mathbf{A}}^m` is decided once per training epoch
    (without gradient, as the reference rebuilds it once per epoch) and at every evaluation; the
    edge weights are recomputed from the current features at every step, so gradients reach
    :math:`\mathbf{W}_m`.  kNN graphs are built in blocks: memory grows with
    ``items x knn_k``, never ``items x items``.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): ID embedding size. (default: 64)
        feature_dim (int): Size of the learned features. (default: 64)
        knn_k (int): Neighbours per item. (default: 10)
        lambda_coeff (float): Weight :math:`\lambda` of the fixed raw-feature graph. (default: 0.9)
        item_layers (int): Item-graph layers :math:`L_i`. (default: 1)
        ui_layers (int): LightGCN layers. (default: 2)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): Weight :math:`\lambda` of the reference's penalty on the batch's final
            embeddings, :math:`\frac{\lambda}{2B}(\|\mathbf{U}\|_F^2 + \|\mathbf{P}\|_F^2 +
            \|\mathbf{N}\|_F^2)`. (default: 1e-4)

    Trained as MMRec trains it (``src/models/lattice.py``, ``configs/model/LATTICE.yaml``): its
    LightGCN runs over the row-normalized adjacency with self-loops,
    :math:`\mathbf{D}^{-1}(\mathbf{A} + \mathbf{I})`; ID tables ``xavier_uniform``; the penalty
    above.  Differences: the reference sends gradient to :math:`\mathbf{W}_m` and :math:`\alpha`
    only on the first batch of an epoch (it reuses a detached graph afterwards), here at every
    step; its learning-rate schedule (:math:`\times 0.96^{\text{epoch}/50}`) and its fine-tuning
    of the raw features are left out.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        feature_dim: Size = 64,
        knn_k: Size = 10,
        lambda_coeff: Fraction = 0.9,
        item_layers: Count = 1,
        ui_layers: Count = 2,
        word_dim: Size = 64,
        reg_weight: Weight = 1e-4,
    ):
        super().__init__()
        if knn_k < 1 or not 0.0 <= lambda_coeff <= 1.0:
            raise ValueError(
                f"LATTICE: needs knn_k >= 1 and lambda_coeff in [0, 1], got {knn_k}, {lambda_coeff}"
            )
        self.num_users, self.num_items = num_users, num_items
        self.knn_k, self.lambda_coeff = knn_k, lambda_coeff
        self.item_layers, self.ui_layers, self.reg_weight = item_layers, ui_layers, reg_weight
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="LATTICE")
        self.transforms = ModuleDict(
            {
                m: Linear(d, feature_dim, weight_initializer="glorot")
                for m, d in self.inputs.dims.items()
            }
        )
        self.modal_weight = Parameter(torch.empty(len(self.inputs.dims)))
        self.user = Embedding(num_users, embedding_dim)
        self.item = Embedding(num_items, embedding_dim)
        self._neighbours: dict[str, Tensor] = {}  # learned-graph neighbours of this epoch
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in self.transforms.values():
            lin.reset_parameters()
        torch.nn.init.zeros_(self.modal_weight)  # equal modality weights
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)
        self._neighbours = {}

    def start_epoch(self, graph: RecGraph, generator: torch.Generator) -> None:
        self._neighbours = {}

    def item_graphs(self, graph: RecGraph) -> list[tuple[Tensor, Tensor, Tensor]]:
        """``(coefficient, neighbours [I, k], weights [I, k])`` of every graph that makes up S."""
        k = min(self.knn_k, self.num_items)
        alpha = torch.softmax(self.modal_weight, 0)
        graphs = []
        for a, (m, x) in zip(alpha, self.inputs(graph).items()):
            h = F.normalize(self.transforms[m](x), dim=1)
            index = self._neighbours.get(m) if self.training else None
            if index is None:
                index = cosine_knn(h.detach(), k)[0]
                if self.training:
                    self._neighbours[m] = index
            learned = knn_weights(index, (h.unsqueeze(1) * h[index]).sum(-1))
            graphs += [
                ((1 - self.lambda_coeff) * a, index, learned),
                (self.lambda_coeff * a, *graph.item_graph(m, k, weighted=True)),
            ]
        return graphs

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        h = knn_propagate_mix(self.item.weight, self.item_graphs(graph), self.item_layers)
        user, item = smooth_users_items(
            graph.adjacency("mean", self_loops=True),
            self.user.weight,
            self.item.weight,
            self.ui_layers,
        )
        return user, item + F.normalize(h, dim=1)

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        user, item = self(graph)
        rows = (user[users], item[pos], item[negs.flatten()])
        penalty = self.reg_weight / 2 * sum(r.pow(2).sum() for r in rows) / users.numel()
        return self.bpr(user, item, users, pos, negs) + penalty

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, modalities={list(self.inputs.dims)}, knn_k={self.knn_k}"
