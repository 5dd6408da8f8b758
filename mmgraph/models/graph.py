"""The device-side views of a dataset that models read: features, interactions, adjacency.

:class:`RecGraph` is the whole training graph; :class:`SampledGraph` a sampled subgraph of it
(a mini-batch).  Both offer what :class:`GraphView` declares; only the whole graph offers the
item-item (kNN) graphs, user means and the interaction matrix, so a model that reads those
trains on the whole graph (it declares no sampling hops, see
:class:`~mmgraph.models.Capabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.data.hetero import EDGE
from mmgraph.nn.adjacency import NORMALIZATIONS, normalized_adjacency, spmm
from mmgraph.nn.knn import cosine_knn, knn_weights


@dataclass
class GraphView:
    """What every graph a model reads holds: users ``0 .. U-1`` and items ``0 .. I-1`` (local
    ids; :meth:`global_users` / :meth:`global_items` map them to the dataset's), the training
    (user, item) pairs, the items' features, and a cached normalized adjacency of the
    homogeneous view (users, then items) per normalization."""

    num_users: int
    num_items: int
    edge_index: Tensor  # [2, E] training (user, item) pairs, item ids 0-based
    features: dict[str, Tensor] = field(default_factory=dict)  # dense [I, D_m]
    bags: dict[str, Tensor] = field(default_factory=dict)  # (item, word) pairs [2, n]
    bag_vocab: dict[str, int] = field(default_factory=dict)
    # [I] bool: items without a learned ID embedding (held out of training, or appended by
    # :meth:`RecGraph.with_new_items`); ``None`` when there are none
    cold: Tensor | None = None
    # global ids of the local users / items; ``None``: local ids are global ids
    user_ids: Tensor | None = None
    item_ids: Tensor | None = None
    _adjacency: dict[str, Tensor] = field(default_factory=dict, repr=False)

    @property
    def modalities(self) -> list[str]:
        return list(self.features) + list(self.bags)

    def global_users(self, users: Tensor) -> Tensor:
        """Global ids of local user ids."""
        return users if self.user_ids is None else self.user_ids[users]

    def global_items(self, items: Tensor) -> Tensor:
        """Global ids of local item ids."""
        return items if self.item_ids is None else self.item_ids[items]

    def items_within(self, hops: int) -> int:
        """How many items (the first ones) lie within ``hops`` hops of a batch's seeds: a model
        whose output at the seeds reads item vectors only that far may skip the others (all
        items of a whole graph)."""
        return self.num_items

    def adjacency(self, normalization: str = "gcn") -> Tensor:
        """Normalized CSR ``adj_t`` of the homogeneous user-item graph (built once, cached)."""
        raise NotImplementedError

    def item_matrix(self, modality: str) -> Tensor:
        """Item rows of one modality: the dense features, or a bag-of-words modality's sparse
        COO count matrix ``[I, vocabulary]``."""
        if modality in self.features:
            return self.features[modality]
        pairs = self.bags[modality]
        ones = torch.ones(pairs.size(1), device=pairs.device)
        return torch.sparse_coo_tensor(
            pairs, ones, (self.num_items, self.bag_vocab[modality])
        ).coalesce()

    def isolated(self, items: Tensor) -> RecGraph:
        """The graph of ``items`` alone: no users, no interactions, every item :attr:`cold`,
        ``item_ids`` the items' global ids.  A model embeds it as it embeds cold items inside
        a graph (a cold-start training step scores items from their features this way)."""
        local = torch.full((self.num_items,), -1, dtype=torch.long, device=items.device)
        local[items] = torch.arange(items.numel(), device=items.device)
        bags = {}
        for m, pairs in self.bags.items():
            keep = local[pairs[0]] >= 0
            bags[m] = torch.stack([local[pairs[0, keep]], pairs[1, keep]])
        return RecGraph(
            0,
            items.numel(),
            items.new_zeros(2, 0),
            {m: x[items] for m, x in self.features.items()},
            bags,
            dict(self.bag_vocab),
            cold=torch.ones(items.numel(), dtype=torch.bool, device=items.device),
            user_ids=items.new_zeros(0),
            item_ids=self.global_items(items),
        )


@dataclass
class RecGraph(GraphView):
    """Training graph and item features of one dataset, on one device.

    Nodes of the homogeneous view are users ``0 .. U-1`` then items ``U .. U+I-1``.  Every
    derived structure (adjacency per normalization, kNN item graphs, interaction matrix) is
    built once and cached.
    """

    _knn: dict[tuple, tuple[Tensor, Tensor]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_data(cls, data: HeteroData, device: torch.device | str | None = None) -> RecGraph:
        item = data["item"]
        bag_vocab = dict(getattr(data, "bag_vocab", {}) or {})
        modalities = list(getattr(data, "modalities", []) or [])
        cold_ids = getattr(data, "cold_items", None)
        cold = None
        if cold_ids is not None:
            cold = torch.zeros(item.num_nodes, dtype=torch.bool)
            cold[cold_ids] = True
        graph = cls(
            num_users=data["user"].num_nodes,
            num_items=item.num_nodes,
            edge_index=data[EDGE].edge_index,
            features={m: item[m] for m in modalities if m not in bag_vocab},
            bags={m: item[f"{m}_bag"] for m in bag_vocab},
            bag_vocab=bag_vocab,
            cold=cold,
        )
        return graph.to(device) if device is not None else graph

    def to(self, device) -> RecGraph:
        return RecGraph(
            self.num_users,
            self.num_items,
            self.edge_index.to(device),
            {m: x.to(device) for m, x in self.features.items()},
            {m: b.to(device) for m, b in self.bags.items()},
            dict(self.bag_vocab),
            None if self.cold is None else self.cold.to(device),
        )

    def with_new_items(self, features: dict[str, Tensor]) -> RecGraph:
        """This graph with new items appended (ids ``I .. I+N-1``), given by their dense
        ``features`` alone (one ``[N, D_m]`` matrix per modality of the graph): they have no
        interactions and are marked :attr:`cold`.  The existing nodes keep their degrees, so
        their adjacency weights and a model's outputs for them do not change."""
        if self.bags:
            raise ValueError(
                f"new items need dense features for every modality; "
                f"{', '.join(self.bags)} is a bag of words"
            )
        if sorted(features) != sorted(self.features):
            raise ValueError(
                f"new items need exactly the modalities {', '.join(self.features)}, "
                f"got {', '.join(features) or 'none'}"
            )
        n = {x.size(0) for x in features.values()}.pop()
        cold = (
            self.cold
            if self.cold is not None
            else torch.zeros(self.num_items, dtype=torch.bool, device=self.edge_index.device)
        )
        return RecGraph(
            self.num_users,
            self.num_items + n,
            self.edge_index,
            {m: torch.cat([x, features[m].to(x)]) for m, x in self.features.items()},
            bag_vocab=dict(self.bag_vocab),
            cold=torch.cat([cold, cold.new_ones(n)]),
        )

    def homogeneous_edge_index(self) -> Tensor:
        """Both directions of every training interaction over the :math:`U + I` nodes."""
        u, i = self.edge_index[0], self.edge_index[1] + self.num_users
        return torch.stack([torch.cat([u, i]), torch.cat([i, u])])

    def adjacency(self, normalization: str = "gcn", self_loops: bool = False) -> Tensor:
        r"""Normalized CSR ``adj_t`` of the homogeneous user-item graph (built once, cached);
        with ``self_loops``, of :math:`\mathbf{A} + \mathbf{I}` (e.g. ``"mean"``:
        :math:`\mathbf{D}^{-1}(\mathbf{A} + \mathbf{I})`, LATTICE's LightGCN in MMRec)."""
        key = f"{normalization}+loops" if self_loops else normalization
        if key not in self._adjacency:
            n = self.num_users + self.num_items
            edges = self.homogeneous_edge_index()
            if self_loops:
                loops = torch.arange(n, device=edges.device).repeat(2, 1)
                edges = torch.cat([edges, loops], 1)
            self._adjacency[key] = normalized_adjacency(
                edges, (n, n), normalization, symmetric=True
            )
        return self._adjacency[key]

    def item_knn(self, modality: str, k: int) -> tuple[Tensor, Tensor]:
        """The cosine kNN graph of the items' raw ``modality`` rows (``index``, ``similarity``,
        both ``[I, k]``; see :func:`~mmgraph.nn.cosine_knn`), built once and cached."""
        if (modality, k) not in self._knn:
            self._knn[modality, k] = cosine_knn(self.item_matrix(modality), min(k, self.num_items))
        return self._knn[modality, k]

    def item_graph(self, modality: str, k: int, weighted: bool = True) -> tuple[Tensor, Tensor]:
        """That kNN graph normalized (:func:`~mmgraph.nn.knn_weights`): ``index [I, k]`` and
        weights from the cosine similarities (``weighted``, LATTICE) or from ones (FREEDOM);
        built once and cached."""
        if (modality, k, weighted) not in self._knn:
            index, similarity = self.item_knn(modality, k)
            self._knn[modality, k, weighted] = (
                index,
                knn_weights(index, similarity if weighted else torch.ones_like(similarity)),
            )
        return self._knn[modality, k, weighted]

    def user_means(self, x: Tensor) -> Tensor:
        """Each user's mean of the item rows ``x [I, d]`` over their training items, ``[U, d]``
        (zeros for users without any), through a cached ``[U, I]`` CSR."""
        return spmm(self.interactions("mean"), x)

    def interactions(self, normalization: str = "sum") -> Tensor:
        r"""The ``[U, I]`` user-item matrix as a cached CSR: binary :math:`\mathbf{R}` (``"sum"``)
        or row-normalized, each user's mean over their items (``"mean"``)."""
        key = f"user_{normalization}"
        if key not in self._adjacency:
            self._adjacency[key] = normalized_adjacency(
                self.edge_index.flip(0), (self.num_items, self.num_users), normalization
            )
        return self._adjacency[key]


@dataclass
class SampledGraph(GraphView):
    r"""A sampled subgraph of a :class:`RecGraph` (a mini-batch), which models read as they read
    the whole graph: local users ``0 .. U_s-1`` and items ``0 .. I_s-1``, their global ids
    (``user_ids``, ``item_ids``: models pick these rows of their embedding tables with
    :meth:`~mmgraph.models.Recommender.rows`), the items' features, and the sampled edges: ``edge_index``
    carries messages user -> item, ``rev_edge_index`` (also (user, item) pairs) item -> user.

    Each sampled edge :math:`j \to i` is weighted with the *whole* graph's degrees, scaled by
    how many of :math:`i`'s :math:`D_i` neighbours were sampled (:math:`s_i`), so that the
    aggregate is an unbiased estimate of the full one and equals it when all are sampled:
    ``gcn``: :math:`\frac{D_i}{s_i} \frac{1}{\sqrt{D_i D_j}}`, ``mean``: :math:`\frac{1}{s_i}`,
    ``sum``: :math:`\frac{D_i}{s_i}`.
    """

    rev_edge_index: Tensor | None = None
    user_degree: Tensor | None = None  # whole-graph degree of each local user
    item_degree: Tensor | None = None
    # items found at hop 0 (seeds), 1, 2, ...: local ids in that order
    item_hops: list[int] | None = None

    def items_within(self, hops: int) -> int:
        return self.num_items if self.item_hops is None else sum(self.item_hops[: hops + 1])

    def adjacency(self, normalization: str = "gcn") -> Tensor:
        if normalization not in self._adjacency:
            u, n = self.num_users, self.num_users + self.num_items
            src = torch.cat([self.edge_index[0], self.rev_edge_index[1] + u])
            dst = torch.cat([self.edge_index[1] + u, self.rev_edge_index[0]])
            degree = torch.cat([self.user_degree, self.item_degree]).float()
            sampled = torch.bincount(dst, minlength=n).float()
            scale = (degree / sampled.clamp(min=1))[dst]  # D_i / s_i
            if normalization == "gcn":
                weight = scale * (degree[src] * degree[dst]).rsqrt()
            elif normalization == "mean":
                weight = 1 / sampled[dst]
            elif normalization == "sum":
                weight = scale
            else:
                raise ValueError(
                    f"normalization must be one of {NORMALIZATIONS}, got '{normalization}'"
                )
            self._adjacency[normalization] = normalized_adjacency(
                torch.stack([src, dst]), (n, n), "sum", edge_weight=weight
            )
        return self._adjacency[normalization]
