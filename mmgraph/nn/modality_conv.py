"""Message passing for one modality on the (bipartite) user-item graph."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric import EdgeIndex
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, OptTensor, PairTensor, Size
from torch_geometric.utils import is_sparse

from mmgraph.nn.adjacency import NORMALIZATIONS, edge_weights, normalized_adjacency, spmm

COMBINES = ("add", "concat", "none")


class ModalityConv(MessagePassing):
    r"""The per-modality graph convolution of MMGCN (`"MMGCN: Multi-modal Graph Convolution
    Network for Personalized Recommendation of Micro-video" <https://arxiv.org/abs/1908.05322>`_),
    as used by MetaMMF's design-card model: one modality's user preference vectors and item
    features are propagated over the user-item graph.

    .. math::
        \mathbf{a}_i = \sum_{j \in \mathcal{N}(i)} \hat{A}_{ij}\,\mathbf{x}_j, \qquad
        \mathbf{x}'_i = \mathrm{combine}\big(\mathbf{W}_1 \mathbf{a}_i,\
        \mathbf{W}_2 \mathbf{x}_i\big)

    with :math:`\hat{A}_{ij} = 1/|\mathcal{N}(i)|` (``normalization="mean"``),
    :math:`1/\sqrt{d_j d_i}` (``"gcn"``) or 1 (``"sum"``), and combine = sum (``"add"``,
    GraphSAGE-mean for ``"mean"``), concatenation of two halves of ``out_channels``
    (``"concat"``), or :math:`\mathbf{W}_1\mathbf{a}_i` alone (``"none"``).

    The fast path multiplies a normalized CSR adjacency (5-10x faster than scatter on CPU,
    forward + backward): it is taken for torch.sparse / ``SparseTensor`` / :class:`EdgeIndex`
    inputs and for ``edge_index`` with ``cached=True``; a plain ``edge_index`` otherwise uses
    scatter-based message passing.  For many layers on one graph, build the adjacency once with
    :func:`~mmgraph.nn.normalized_adjacency` and pass it with ``normalize=False``.

    Args:
        in_channels (int or tuple): Input size, or ``(source, target)`` sizes for bipartite
            graphs; ``-1`` for lazy initialization.
        out_channels (int): Output size.
        normalization (str): ``"mean"``, ``"gcn"`` or ``"sum"``. (default: :obj:`"mean"`)
        combine (str): ``"add"``, ``"concat"`` or ``"none"``. (default: :obj:`"add"`)
        normalize (bool): Normalize the adjacency; ``False`` takes sparse inputs and
            ``edge_weight`` as already normalized. (default: :obj:`True`)
        cached (bool): Cache the normalized adjacency of the first call (transductive use,
            one graph only). (default: :obj:`False`)
        bias (bool): Learn a bias. (default: :obj:`True`)
        **kwargs: Passed to :class:`~torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or
          :math:`((|\mathcal{V}_s|, F_s), (|\mathcal{V}_t|, F_t))`, edge indices
          :math:`(2, |\mathcal{E}|)` or a sparse ``adj_t`` :math:`(|\mathcal{V}_t|, |\mathcal{V}_s|)`,
          edge weights :math:`(|\mathcal{E}|)` (optional)
        - **output:** :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        normalization: str = "mean",
        combine: str = "add",
        normalize: bool = True,
        cached: bool = False,
        bias: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("aggr", "add")
        super().__init__(**kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"ModalityConv: normalization must be one of {NORMALIZATIONS}")
        if combine not in COMBINES:
            raise ValueError(f"ModalityConv: combine must be one of {COMBINES}")
        if combine == "concat" and out_channels % 2:
            raise ValueError("ModalityConv: combine='concat' needs an even out_channels")
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.normalization, self.combine = normalization, combine
        self.normalize, self.cached = normalize, cached
        part = out_channels // 2 if combine == "concat" else out_channels
        self.lin_neigh = Linear(in_channels[0], part, bias=bias, weight_initializer="glorot")
        self.lin_self = (
            Linear(
                in_channels[1], part, bias=combine == "concat" and bias, weight_initializer="glorot"
            )
            if combine != "none"
            else None
        )
        self._cached_adj_t: Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_neigh.reset_parameters()
        if self.lin_self is not None:
            self.lin_self.reset_parameters()
        self._cached_adj_t = None

    def _sparse_adjacency(self, edge_index: Adj, edge_weight: OptTensor, size) -> Tensor | None:
        """The normalized CSR ``adj_t`` for the fast path, or ``None`` for the scatter path."""
        if self._cached_adj_t is not None:
            return self._cached_adj_t
        sparse = is_sparse(edge_index)
        if sparse and not self.normalize:
            return edge_index
        if not (sparse or self.cached or isinstance(edge_index, EdgeIndex)):
            return None
        adj_t = normalized_adjacency(
            edge_index, size, self.normalization if self.normalize else "sum", edge_weight
        )
        if self.cached:
            self._cached_adj_t = adj_t
        return adj_t

    def forward(
        self,
        x: Tensor | PairTensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        size: Size = None,
    ) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        if size is None and not is_sparse(edge_index):
            size = (x[0].size(0), x[1].size(0))
        adj_t = self._sparse_adjacency(edge_index, edge_weight, size)
        if adj_t is not None:  # fused path: message_and_aggregate on the CSR adjacency
            edge_index, edge_weight, size = adj_t, None, None
        elif self.normalize:
            edge_weight = edge_weights(
                edge_index, size[0], size[1], self.normalization, edge_weight
            )
        agg = self.propagate(edge_index, x=x, edge_weight=edge_weight, size=size)
        out = self.lin_neigh(agg)
        if self.combine == "add":
            out = out + self.lin_self(x[1])
        elif self.combine == "concat":
            out = torch.cat([out, self.lin_self(x[1])], dim=-1)
        return out

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else x_j * edge_weight.view(-1, 1)

    def message_and_aggregate(self, adj_t: Adj, x: PairTensor) -> Tensor:
        return spmm(adj_t, x[0])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels[0] if self.in_channels[0] == self.in_channels[1] else self.in_channels}, "
            f"{self.out_channels}, normalization={self.normalization}, combine={self.combine})"
        )
