"""LGMRec: local (graph) and global (hypergraph) multimodal embeddings."""

from __future__ import annotations

import itertools
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict, ParameterDict
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.nn import smooth


class LGMRec(FeatureRecommender):
    r"""LGMRec from `"LGMRec: Local and Global Graph Learning for Multimodal Recommendation"
    <https://arxiv.org/abs/2312.16400>`_ (Guo et al., AAAI 2024).

    *Local*: LightGCN over the ID embeddings, plus, per modality :math:`m`, LightGCN over the
    projected item features :math:`\mathbf{f}^m_i = \mathbf{W}_m\mathbf{x}^m_i` and users'
    means of their items' :math:`\mathbf{f}^m`. *Global*: per modality, items belong softly to
    ``hyperedges`` learned hyperedges, :math:`\mathbf{H}^m_i = \mathrm{softmax}(\mathbf{x}^m_i
    \mathbf{P}_m / \tau)` (Gumbel-softmax in training), users through their items
    (:math:`\mathbf{H}^m_u` = mean over the user's items); hyperedge embeddings
    :math:`\mathbf{z} = \mathbf{H}^{m\top}_i\mathbf{e}^{id}_i` are spread back to both:

    .. math::
        \mathbf{e} = \mathbf{e}^{cf} + \sum_m \mathrm{norm}(\mathbf{e}^{m})
        + \alpha\,\mathrm{norm}\Big(\sum_m [\mathbf{H}^m_u; \mathbf{H}^m_i]\,\mathbf{z}^m\Big)

    The loss adds ``cl_weight`` times InfoNCE terms (temperature :math:`\tau`) that align the
    batch's users' (and, separately, items') global embeddings across every pair of modalities.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): Embedding size. (default: 64)
        ui_layers (int): LightGCN layers on IDs. (default: 2)
        modality_layers (int): LightGCN layers on the modality features. (default: 2)
        hyperedges (int): Hyperedges per modality. (default: 4)
        tau (float): Softmax and InfoNCE temperature. (default: 0.2)
        alpha (float): Weight :math:`\alpha` of the global embeddings. (default: 0.3)
        cl_weight (float): Weight of the InfoNCE term. (default: 1e-4)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): Weight of the L2 penalty on the batch's ID embeddings. (default: 1e-4)
    """

    def __init__(self, num_users: int, num_items: int, modality_dims: Mapping[str, int],
                 bag_vocab: Mapping[str, int] | None = None, *, embedding_dim: int = 64, ui_layers: int = 2,
                 modality_layers: int = 2, hyperedges: int = 4, tau: float = 0.2, alpha: float = 0.3,
                 cl_weight: float = 1e-4, word_dim: int = 64, reg_weight: float = 1e-4):
        super().__init__()
        if hyperedges < 1 or tau <= 0:
            raise ValueError(f"LGMRec: needs hyperedges >= 1 and tau > 0, got {hyperedges}, {tau}")
        self.num_users, self.num_items = num_users, num_items
        self.ui_layers, self.modality_layers, self.tau, self.alpha = ui_layers, modality_layers, tau, alpha
        self.cl_weight, self.reg_weight = cl_weight, reg_weight
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="LGMRec")
        self.transforms = ModuleDict({m: Linear(d, embedding_dim, weight_initializer="glorot")
                                      for m, d in self.inputs.dims.items()})
        self.hyper = ParameterDict({m: torch.nn.Parameter(torch.empty(d, hyperedges))
                                    for m, d in self.inputs.dims.items()})
        self.user = Embedding(num_users, embedding_dim)
        self.item = Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in self.transforms.values():
            lin.reset_parameters()
        for p in self.hyper.values():
            torch.nn.init.xavier_uniform_(p)
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)

    def parts(self, graph: RecGraph) -> tuple[Tensor, dict[str, Tensor]]:
        """All ``[U + I, d]`` final embeddings and each modality's global embeddings."""
        adj = graph.adjacency("gcn")
        ids = torch.cat([self.user.weight, self.item.weight])
        local = smooth(adj, ids, self.ui_layers)
        glob = {}
        for m, x in self.inputs(graph).items():
            f = self.transforms[m](x)
            local = local + F.normalize(smooth(adj, torch.cat([graph.user_means(f), f]), self.modality_layers), dim=1)
            logits = x @ self.hyper[m]
            h_item = F.gumbel_softmax(logits, tau=self.tau, dim=1) if self.training else torch.softmax(logits / self.tau, 1)
            z = h_item.t() @ self.item.weight  # hyperedge embeddings
            glob[m] = torch.cat([graph.user_means(h_item) @ z, h_item @ z])
        return local + self.alpha * F.normalize(sum(glob.values()), dim=1), glob

    def embed(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        out, _ = self.parts(graph)
        return out[: self.num_users], out[self.num_users:]

    def _info_nce(self, a: Tensor, b: Tensor) -> Tensor:
        logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).t() / self.tau
        return F.cross_entropy(logits, torch.arange(a.size(0), device=a.device))

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        out, glob = self.parts(graph)
        user_emb, item_emb = out[: self.num_users], out[self.num_users:]
        loss = self.bpr(user_emb, item_emb, users, pos, negs)
        loss = loss + self.regularization(users, torch.cat([pos, negs.flatten()]))
        for rows in (users.unique(), self.num_users + pos.unique()):  # the batch's users, then items
            for a, b in itertools.combinations(glob.values(), 2):
                loss = loss + self.cl_weight * self._info_nce(a[rows], b[rows])
        return loss

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        return self.l2_penalty(self.reg_weight, self.user.weight[users], self.item.weight[items])

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, modalities={list(self.transforms)}"
