"""Normalized sparse adjacency for bipartite / user-item graphs, and a fast CSR product.

Sparse-dense products over a cached CSR matrix are 5-10x faster than scatter-based message
passing on CPU (fwd + bwd).  The backward pass of ``adj_t @ x`` needs ``adj @ grad``; autograd
would transpose ``adj_t`` on every call, so :func:`normalized_adjacency` builds the transpose
once and attaches it, and :func:`spmm` uses it.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch_geometric import EdgeIndex
from torch_geometric.typing import Adj, SparseTensor
from torch_geometric.utils import is_torch_sparse_tensor, scatter, to_torch_csr_tensor
from torch_geometric.utils import spmm as pyg_spmm

NORMALIZATIONS = ("mean", "gcn", "sum")
_TRANSPOSE = "_mmgraph_transpose"  # attribute holding adj (= adj_t^T) as CSR


def edge_weights(
    edge_index: Tensor,
    num_src: int,
    num_dst: int,
    normalization: str = "mean",
    edge_weight: Tensor | None = None,
) -> Tensor:
    r"""Per-edge weights of the normalized adjacency for ``edge_index`` (row 0 source, row 1 target).

    ``mean``: :math:`w_{ji}/\sum_{j'} w_{j'i}`; ``gcn``: :math:`w_{ji}/\sqrt{d_j d_i}` with
    source out-degree :math:`d_j` and target in-degree :math:`d_i`; ``sum``: :math:`w_{ji}`.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got '{normalization}'")
    src, dst = edge_index[0], edge_index[1]
    w = edge_weight if edge_weight is not None else torch.ones(src.numel(), device=src.device)
    if normalization == "sum":
        return w
    deg_dst = scatter(w, dst, 0, dim_size=num_dst, reduce="sum")
    if normalization == "mean":
        return w / deg_dst.clamp(min=1e-12)[dst]
    deg_src = scatter(w, src, 0, dim_size=num_src, reduce="sum")
    return w * deg_src.clamp(min=1e-12).rsqrt()[src] * deg_dst.clamp(min=1e-12).rsqrt()[dst]


def _coo(edge_index: Adj, size: tuple[int, int] | None):
    """``(edge_index [2, E] source->target, weights or None, (num_src, num_dst))`` from any Adj."""
    if isinstance(edge_index, SparseTensor):  # adj_t[target, source]
        row, col, value = edge_index.coo()
        return torch.stack([col, row]), value, (edge_index.size(1), edge_index.size(0))
    if is_torch_sparse_tensor(edge_index):  # adj_t[target, source]
        coo = edge_index.to_sparse_coo().coalesce()
        idx, value = coo.indices(), coo.values()
        return idx.flip(0), value, (edge_index.size(1), edge_index.size(0))
    if isinstance(edge_index, EdgeIndex):
        num_src, num_dst = edge_index.sparse_size()
        edge_index = edge_index.as_tensor()
        if size is None and num_src is not None and num_dst is not None:
            size = (num_src, num_dst)
    if size is None:
        n = int(edge_index.max()) + 1 if edge_index.numel() else 0
        size = (n, n)
    return edge_index, None, size


def normalized_adjacency(
    edge_index: Adj,
    size: tuple[int, int] | None = None,
    normalization: str = "mean",
    edge_weight: Tensor | None = None,
    symmetric: bool = False,
) -> Tensor:
    r"""The normalized adjacency :math:`\hat{\mathbf{A}}^{\top}` as a CSR tensor
    ``[num_dst, num_src]`` (PyG's ``adj_t`` convention), with its transpose attached.

    Args:
        edge_index: ``[2, E]`` (source, target) indices, an :class:`EdgeIndex`, a torch.sparse
            ``adj_t`` ``[num_dst, num_src]`` or a torch_sparse ``SparseTensor`` ``adj_t``; the
            values of sparse inputs are used as edge weights.
        size: ``(num_src, num_dst)``; inferred when omitted.
        normalization: ``"mean"``, ``"gcn"`` or ``"sum"`` (see :func:`edge_weights`).
        symmetric: The caller guarantees a symmetric graph (every edge in both directions with
            the same weight, e.g. an undirected user-item graph) and a normalization that keeps it
            symmetric (``"gcn"`` or ``"sum"``): the matrix is then its own transpose and is stored
            once.
    """
    index, value, (num_src, num_dst) = _coo(edge_index, size)
    if edge_weight is None:
        edge_weight = value
    w = edge_weights(
        index, num_src, num_dst, normalization, None if edge_weight is None else edge_weight.float()
    )
    with warnings.catch_warnings():  # torch's "sparse CSR is in beta" notices
        warnings.simplefilter("ignore", UserWarning)
        adj_t = to_torch_csr_tensor(index.flip(0), w, (num_dst, num_src))
        adj = (
            adj_t
            if symmetric and normalization != "mean"
            else to_torch_csr_tensor(index, w, (num_src, num_dst))
        )
    setattr(adj_t, _TRANSPOSE, adj)
    return adj_t


class _CSRMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj_t: Tensor, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj_t, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, torch.sparse.mm(ctx.adj, grad)


def smooth(adj_t: Adj, x: Tensor, num_layers: int) -> Tensor:
    r"""LightGCN's layer combination: :math:`\frac{1}{L+1}\sum_{l=0}^{L} \hat{A}^l x`."""
    out, h = x / (num_layers + 1), x
    for _ in range(num_layers):
        h = spmm(adj_t, h)
        out = out + h / (num_layers + 1)
    return out


def smooth_users_items(
    adj_t: Adj, user: Tensor, item: Tensor, num_layers: int
) -> tuple[Tensor, Tensor]:
    """:func:`smooth` over a user-item graph (users first): the ``[U, d]`` and ``[I, d]``
    inputs stacked, smoothed, and split back (LightGCN's output for both node types)."""
    x = smooth(adj_t, torch.cat([user, item]), num_layers)
    return x[: user.size(0)], x[user.size(0) :]


@torch.compiler.disable
def spmm(adj_t: Adj, x: Tensor) -> Tensor:
    """``adj_t @ x``; fast backward when ``adj_t`` comes from :func:`normalized_adjacency`."""
    adj = getattr(adj_t, _TRANSPOSE, None)
    with torch.autocast(
        x.device.type, enabled=False
    ):  # sparse kernels have no bf16 / fp16 path: fp32
        if adj is not None and adj.device == x.device:
            return _CSRMatmul.apply(adj_t, adj, x.to(adj_t.dtype))
        return pyg_spmm(adj_t, x, reduce="sum")
