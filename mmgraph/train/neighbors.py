"""Mini-batch training on sampled subgraphs, with PyG's :class:`LinkNeighborLoader`.

Each BPR batch's (user, positive) and (user, negative) pairs are the loader's seed edges; it
samples ``fanout[h]`` neighbours per node at hop ``h`` around their endpoints over the
``HeteroData`` user-item graph and returns the subgraph, which :func:`sampled_graph` turns
into a :class:`~mmgraph.models.SampledGraph` that models embed as they embed the whole graph:
features are gathered (and the fusion computed) only for the items the batch touches, so
memory follows the batch, not the graph.

Sampling runs on the CPU.  PyG's :class:`~torch_geometric.sampler.NeighborSampler` does it
with ``pyg-lib`` or ``torch-sparse``; neither is required here: without them
:class:`NeighborSampler` keeps PyG's loader, input handling and subgraph filtering and swaps in
a vectorized torch kernel for the sampling itself (uniform, without replacement).
"""

from __future__ import annotations

import warnings

import torch
import torch_geometric.typing
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.sampler import HeteroSamplerOutput
from torch_geometric.sampler import NeighborSampler as PyGNeighborSampler

from mmgraph.data import EDGE, REV_EDGE
from mmgraph.eval.itemsets import segments
from mmgraph.models import RecGraph, SampledGraph


def sample_offsets(degree: Tensor, k: int) -> Tensor:
    """``[n, k]`` distinct offsets drawn uniformly from ``0 .. degree[n] - 1`` (every
    ``degree[n] > k``): Floyd's algorithm, one vectorized step per column."""
    out = torch.empty(degree.numel(), k, dtype=torch.long, device=degree.device)
    for i in range(k):
        j = degree - k + i  # draw t from 0 .. j; if taken, take j (never taken yet)
        t = (torch.rand(degree.numel(), dtype=torch.float64, device=degree.device) * (j + 1)).long()
        t = torch.minimum(t, j)
        taken = (out[:, :i] == t.unsqueeze(1)).any(1)
        out[:, i] = torch.where(taken, j, t)
    return out


class NeighborSampler(PyGNeighborSampler):
    """PyG's :class:`~torch_geometric.sampler.NeighborSampler`, with a torch kernel for
    heterogeneous, directional, uniform sampling without replacement when neither ``pyg-lib``
    nor ``torch-sparse`` is installed (with either, PyG's own kernel runs)."""

    def __init__(self, data: HeteroData, num_neighbors: list[int], **kwargs):
        with warnings.catch_warnings():  # "NeighborSampler without pyg-lib is deprecated"
            warnings.simplefilter("ignore", UserWarning)
            super().__init__(data, num_neighbors, **kwargs)
        # the torch kernel's global id -> local id map (-1: not in the subgraph); reset after each
        # batch, so a batch costs its own nodes, not a pass over every node of the graph
        self._local = (
            None
            if self.native
            else {t: torch.full((n,), -1, dtype=torch.long) for t, n in self.num_nodes.items()}
        )

    @property
    def native(self) -> bool:
        return torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE

    def _sample(self, seed, seed_time=None, **kwargs):
        if self.native or not isinstance(seed, dict):
            return super()._sample(seed, seed_time, **kwargs)
        if (
            seed_time is not None
            or self.replace
            or self.disjoint
            or self.edge_weight is not None
            or self.subgraph_type.value != "directional"
        ):
            raise NotImplementedError(
                "mmgraph's torch neighbour sampler does uniform directional "
                "sampling only; install pyg-lib for the other modes"
            )
        node = {t: seed.get(t, torch.empty(0, dtype=torch.long)).long() for t in self.node_types}
        try:
            row, col, edge, counts = self._expand(node)
        finally:  # the id map is shared between batches: leave it clean, whatever happened
            for t, ids in node.items():
                self._local[t][ids] = -1
        return HeteroSamplerOutput(
            node=node, row=row, col=col, edge=edge, batch=None, num_sampled_nodes=counts
        )

    def _expand(self, node: dict[str, Tensor]):
        """Sample every hop around the seeds ``node`` (extended in place with the nodes found);
        ``(row, col, edge, nodes found per hop)`` as :class:`HeteroSamplerOutput` wants them."""
        fanouts = self.num_neighbors.get_mapped_values(self.edge_types)
        local = self._local
        for t, ids in node.items():
            local[t][ids] = torch.arange(ids.numel())
        frontier = {t: (0, ids.numel()) for t, ids in node.items()}  # local ids expanded next
        counts = {t: [ids.numel()] for t, ids in node.items()}  # nodes found per hop, seeds first
        row, col, edge = ({e: [] for e in self.edge_types} for _ in range(3))
        for hop in range(self.num_neighbors.num_hops):
            found = {t: [] for t in self.node_types}
            for edge_type in self.edge_types:
                (src_type, _, dst_type), rel = edge_type, self.to_rel_type[edge_type]
                lo, hi = frontier[dst_type]
                which, pos = self._pick(rel, node[dst_type][lo:hi], fanouts[rel][hop])
                src = self.row_dict[rel][pos]
                found[src_type].append(src)
                row[edge_type].append(src)  # global for now
                col[edge_type].append(which + lo)
                edge[edge_type].append(pos)
            for t, parts in found.items():  # new nodes get the next local ids
                begin = node[t].numel()
                if parts:
                    ids = torch.cat(parts)
                    new = torch.unique(ids[local[t][ids] < 0])
                    local[t][new] = torch.arange(begin, begin + new.numel())
                    node[t] = torch.cat([node[t], new])
                frontier[t] = (begin, node[t].numel())
                counts[t].append(node[t].numel() - begin)
        empty = torch.empty(0, dtype=torch.long)
        for edge_type in self.edge_types:
            row[edge_type] = (
                local[edge_type[0]][torch.cat(row[edge_type])] if row[edge_type] else empty
            )
            col[edge_type] = torch.cat(col[edge_type]) if col[edge_type] else empty
            edge[edge_type] = torch.cat(edge[edge_type]) if edge[edge_type] else empty
        return row, col, edge, counts

    def _pick(self, rel: str, targets: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Up to ``k`` (``-1``: all) in-edges of each target: ``(which target, CSC position)``."""
        colptr = self.colptr_dict[rel]
        start = colptr[targets]
        degree = colptr[targets + 1] - start
        which, pos = segments(start, degree if k < 0 else torch.where(degree <= k, degree, 0))
        if k >= 0 and bool((degree > k).any()):
            big = torch.nonzero(degree > k).flatten()
            which = torch.cat([which, big.repeat_interleave(k)])
            pos = torch.cat(
                [pos, (start[big].unsqueeze(1) + sample_offsets(degree[big], k)).flatten()]
            )
        return which, pos


class NeighborBatches:
    """Sampled subgraphs around BPR batches of a :class:`RecGraph`.

    Args:
        graph: The whole training graph (its interactions are sampled on the CPU).
        fanout: Neighbours sampled per node at each hop (``-1``: all); one value per hop the
            model reads (:attr:`~mmgraph.models.Capabilities.hops`).
    """

    def __init__(self, graph: RecGraph, fanout: list[int]):
        edges = graph.edge_index.cpu()
        data = HeteroData()
        data["user"].num_nodes, data["item"].num_nodes = graph.num_users, graph.num_items
        data[EDGE].edge_index, data[REV_EDGE].edge_index = edges, edges.flip(0)
        self.graph, self.data, self.fanout = graph, data, list(fanout)
        self.sampler = NeighborSampler(data, self.fanout)
        device = graph.edge_index.device
        self.user_degree = torch.bincount(graph.edge_index[0], minlength=graph.num_users)
        self.item_degree = torch.bincount(graph.edge_index[1], minlength=graph.num_items)
        self.bags = {m: BagRows(pairs, graph.num_items) for m, pairs in graph.bags.items()}
        self.device = device

    def epoch(self, users: Tensor, pos: Tensor, negs: Tensor) -> LinkNeighborLoader:
        """A loader whose seed edges are the epoch's pairs: column ``e`` is ``(users[e],
        pos[e])``, column ``E + e * k + j`` is ``(users[e], negs[e, j])``; call it with
        :meth:`seed_index` of a batch to get that batch's subgraph."""
        k = negs.size(1)
        label = torch.stack(
            [torch.cat([users, users.repeat_interleave(k)]), torch.cat([pos, negs.flatten()])]
        ).cpu()
        return LinkNeighborLoader(
            self.data, self.fanout, edge_label_index=(EDGE, label), neighbor_sampler=self.sampler
        )

    @staticmethod
    def seed_index(batch: Tensor, num_edges: int, k: int) -> Tensor:
        """The loader columns of a batch of interactions: their positives, then negatives."""
        negs = num_edges + (batch.unsqueeze(1) * k + torch.arange(k, device=batch.device)).flatten()
        return torch.cat([batch, negs]).cpu()

    def subgraph(
        self, loader: LinkNeighborLoader, batch: Tensor, num_edges: int, k: int
    ) -> tuple[SampledGraph, Tensor, Tensor, Tensor]:
        """The sampled subgraph around a batch of interactions, and the batch's users,
        positives ``[B]`` and negatives ``[B, k]`` as local ids of that subgraph."""
        sample = loader(self.seed_index(batch, num_edges, k))
        pairs = sample[EDGE].edge_label_index.to(self.device)
        n = batch.numel()
        sub = sampled_graph(self.graph, sample, self.user_degree, self.item_degree, self.bags)
        return sub, pairs[0, :n], pairs[1, :n], pairs[1, n:].view(n, k)


def sampled_graph(
    graph: RecGraph,
    sample: HeteroData,
    user_degree: Tensor,
    item_degree: Tensor,
    bags: dict[str, BagRows],
) -> SampledGraph:
    """A loader's sampled ``HeteroData`` as a :class:`SampledGraph` on ``graph``'s device,
    with the features (and bags of words) of its items only."""
    device = graph.edge_index.device
    users, items = sample["user"].n_id.to(device), sample["item"].n_id.to(device)
    return SampledGraph(
        num_users=users.numel(),
        num_items=items.numel(),
        edge_index=sample[EDGE].edge_index.to(device),
        features={m: x[items] for m, x in graph.features.items()},
        bags={m: rows(items) for m, rows in bags.items()},
        bag_vocab=dict(graph.bag_vocab),
        rev_edge_index=sample[REV_EDGE].edge_index.flip(0).to(device),
        user_ids=users,
        item_ids=items,
        item_hops=getattr(sample["item"], "num_sampled_nodes", None),
        user_degree=user_degree[users],
        item_degree=item_degree[items],
    )


class BagRows:
    """The (item, word) pairs of a bag-of-words modality grouped by item (repeats kept: they
    weigh the bag's mean), to pick the pairs of a subgraph's items."""

    def __init__(self, pairs: Tensor, num_items: int):
        order = torch.argsort(pairs[0], stable=True)
        self.words = pairs[1, order]
        counts = torch.bincount(pairs[0], minlength=num_items)
        self.start, self.counts = torch.cumsum(counts, 0) - counts, counts

    def __call__(self, items: Tensor) -> Tensor:
        """``[2, n]`` pairs of ``items`` with local item ids (positions in ``items``)."""
        which, pos = segments(self.start[items], self.counts[items])
        return torch.stack([which, self.words[pos]])
