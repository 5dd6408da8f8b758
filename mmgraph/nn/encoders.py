"""Per-modality encoders: graph propagation of one modality, and a bag-of-words text encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, EmbeddingBag, Module, ModuleList
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj

from mmgraph.nn.modality_conv import ModalityConv


class BagOfWordsEncoder(Module):
    r"""Text as the mean of learned word embeddings, for text given as (item, word id) pairs
    (MMGCN's TikTok ``feat_t.pt``):

    .. math::
        \mathbf{x}_i = \frac{1}{|\mathcal{W}_i|}\sum_{w \in \mathcal{W}_i} \mathbf{E}_w

    (an :class:`~torch.nn.EmbeddingBag` with ``mode="mean"``; items without words get zeros).

    Args:
        num_words (int): Vocabulary size.
        out_channels (int): Word embedding size.

    Shapes:
        - **input:** pairs :math:`(2, n)` (row 0 item, row 1 word), ``num_items``
        - **output:** :math:`(N_{items}, F_{out})`
    """

    def __init__(self, num_words: int, out_channels: int):
        super().__init__()
        self.num_words, self.out_channels = num_words, out_channels
        self.embedding = EmbeddingBag(num_words, out_channels, mode="mean")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.embedding.weight, std=self.out_channels**-0.5)

    def forward(self, pairs: Tensor, num_items: int) -> Tensor:
        order = torch.argsort(pairs[0], stable=True)
        counts = torch.bincount(pairs[0], minlength=num_items)
        offsets = torch.cumsum(counts, 0) - counts
        return self.embedding(pairs[1, order], offsets)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_words}, {self.out_channels})"


class ModalityEncoder(Module):
    r"""One modality propagated over the user-item graph, as MMGCN does: users start from a
    learned preference vector for this modality, items from their projected features, and
    ``num_layers`` :class:`ModalityConv` layers (LeakyReLU and dropout between) propagate both
    over the homogeneous graph of :math:`U + I` nodes (users first, then items).

    .. math::
        \mathbf{X}^{(0)} = [\mathbf{P}^m;\ \mathbf{F}^m \mathbf{W}^m], \qquad
        \mathbf{X}^{(l+1)} = \mathrm{ModalityConv}(\mathbf{X}^{(l)}, \hat{\mathbf{A}})

    Args:
        num_users (int): Number of users :math:`U`.
        in_channels (int): Feature size of this modality (``-1`` for lazy).
        hidden_channels (int): Size of the propagated representations.
        num_layers (int): Number of :class:`ModalityConv` layers (0: no propagation).
        combine (str): ``"add"``, ``"concat"`` or ``"none"`` (see :class:`ModalityConv`).
        negative_slope (float): LeakyReLU slope. (default: :obj:`0.01`)
        dropout (float): Dropout between layers. (default: :obj:`0.0`)

    Shapes:
        - **input:** item features :math:`(I, F_m)`, a normalized ``adj_t``
          :math:`(U + I, U + I)` from :func:`~mmgraph.nn.normalized_adjacency` (or
          ``edge_index`` over the :math:`U + I` nodes), optionally the ids ``users`` of the
          graph's :math:`U` users among ``num_users`` (a sampled subgraph; default all) and
          whether their preference rows get a sparse gradient
        - **output:** users :math:`(U, F_{hid})`, items :math:`(I, F_{hid})`
    """

    def __init__(
        self,
        num_users: int,
        in_channels: int,
        hidden_channels: int,
        num_layers: int = 2,
        combine: str = "add",
        negative_slope: float = 0.01,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.num_users = num_users
        self.negative_slope, self.dropout = negative_slope, dropout
        self.user_preference = Embedding(num_users, hidden_channels)
        self.item_projection = Linear(in_channels, hidden_channels, weight_initializer="glorot")
        self.convs = ModuleList(
            [
                ModalityConv(hidden_channels, hidden_channels, combine=combine, normalize=False)
                for _ in range(num_layers)
            ]
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_preference.weight, std=0.1)
        self.item_projection.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()

    def forward(
        self, item_features: Tensor, adj_t: Adj, users: Tensor | None = None, sparse: bool = False
    ) -> tuple[Tensor, Tensor]:
        prefs = (
            self.user_preference.weight
            if users is None
            else F.embedding(users, self.user_preference.weight, sparse=sparse)
        )
        num_users = prefs.size(0)
        x = torch.cat([prefs, self.item_projection(item_features)], dim=0)
        for k, conv in enumerate(self.convs):
            x = conv(x, adj_t)
            if k < len(self.convs) - 1:
                x = F.dropout(F.leaky_relu(x, self.negative_slope), self.dropout, self.training)
        return x[:num_users], x[num_users:]
