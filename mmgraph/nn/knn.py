"""Item-item k-nearest-neighbour graphs by cosine similarity, built in blocks (LATTICE, FREEDOM)."""

from __future__ import annotations

import torch
from torch import Tensor


def unit_rows(x: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero); dense, or sparse COO kept sparse."""
    if not x.is_sparse:
        return torch.nn.functional.normalize(x.float(), dim=1)
    x = x.coalesce()
    row, values = x.indices()[0], x.values().float()
    norm = torch.zeros(x.size(0), device=x.device).index_add_(0, row, values * values).sqrt()
    return torch.sparse_coo_tensor(
        x.indices(), values / norm[row].clamp(min=1e-12), x.shape
    ).coalesce()


@torch.autocast("cuda", enabled=False)
@torch.autocast("cpu", enabled=False)
def cosine_knn(
    x: Tensor, k: int, block_size: int | None = None, among: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""For every row :math:`i` of ``x``, the ``k`` rows :math:`j` with the highest cosine
    similarity :math:`\cos(\mathbf{x}_i, \mathbf{x}_j)`, the row itself included (as LATTICE and
    FREEDOM build their item graphs).

    Similarities are computed ``block_size`` rows at a time, so memory stays at
    ``block_size x N`` scores (by default about 2^24, 64 MB) whatever :math:`N`.

    Args:
        x (Tensor): Dense ``[N, D]`` rows, or a sparse COO ``[N, D]`` matrix (e.g. bag-of-words
            counts).
        k (int): Neighbours per row (at most :math:`N`).
        block_size (int, optional): Rows scored at a time. (default: :math:`2^{24} / N`)
        among (Tensor, optional): Ids of the rows that may be neighbours (default: all), e.g.
            only the items with interactions; ``k`` is then at most ``len(among)``.

    Returns:
        ``index [N, k]`` (long) and ``similarity [N, k]``, most similar first.
    """
    n = x.size(0)
    m = n if among is None else among.numel()
    if not 1 <= k <= m:
        raise ValueError(f"cosine_knn: k must be in [1, {m}], got {k}")
    block_size = block_size or max(1, (1 << 24) // m)
    unit = unit_rows(x)
    keys = unit if among is None else unit.index_select(0, among)
    csr = keys.coalesce().to_sparse_csr() if unit.is_sparse else None
    index = torch.empty(n, k, dtype=torch.long, device=x.device)
    similarity = torch.empty(n, k, device=x.device)
    for start in range(0, n, block_size):
        rows = slice(start, min(start + block_size, n))
        if csr is None:
            scores = unit[rows] @ keys.t()
        else:
            block = unit.index_select(
                0, torch.arange(rows.start, rows.stop, device=x.device)
            ).to_dense()
            scores = (csr @ block.t()).t()
        similarity[rows], index[rows] = scores.topk(k, dim=1)
    return (index if among is None else among[index]), similarity


def knn_weights(index: Tensor, similarity: Tensor) -> Tensor:
    r"""Symmetrically normalized weights of a kNN graph,
    :math:`\hat{A}_{ij} = A_{ij} / \sqrt{d_i d_j}` with :math:`A_{ij} = \max(\cos_{ij}, 0)` for
    :math:`j \in \mathrm{kNN}(i)` and :math:`d_i = \sum_j A_{ij}` (LATTICE's normalized
    Laplacian of the kNN adjacency).  Differentiable in ``similarity``."""
    a = similarity.clamp(min=0)
    inv_sqrt = a.sum(1).clamp(min=1e-12).rsqrt()
    return a * inv_sqrt.unsqueeze(1) * inv_sqrt[index]


def knn_propagate(h: Tensor, index: Tensor, weight: Tensor) -> Tensor:
    r""":math:`\mathbf{h}'_i = \sum_{j \in \mathrm{kNN}(i)} w_{ij}\mathbf{h}_j` for a graph with
    exactly ``k`` neighbours per node (``index``, ``weight``: ``[N, k]``); differentiable in
    ``h`` and ``weight``."""
    return (weight.unsqueeze(-1) * h[index]).sum(1)


def knn_propagate_mix(h: Tensor, graphs, num_layers: int = 1) -> Tensor:
    r""":math:`\mathbf{h} \leftarrow \sum_g c_g \hat{\mathbf{A}}_g\mathbf{h}`, ``num_layers`` times,
    for ``graphs`` a list of ``(c_g, index [N, k], weight [N, k])`` (:func:`knn_propagate` each)."""
    for _ in range(num_layers):
        h = sum(c * knn_propagate(h, index, weight) for c, index, weight in graphs)
    return h
