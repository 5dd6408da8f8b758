"""The interface every recommender in mmgraph offers the trainer and the evaluator."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, EmbeddingBag, Module, Parameter

from mmgraph.models.graph import GraphView, RecGraph
from mmgraph.models.options import constructor_options
from mmgraph.nn.losses import bpr_loss


@dataclass(frozen=True)
class Capabilities:
    """What a recommender can do, declared once per class (:attr:`Recommender.capabilities`).

    Attributes:
        trainable: ``False`` for scorers without parameters (popularity, content kNN): they are
            evaluated directly, without training.
        cold_start: Items without a learned ID embedding (:attr:`RecGraph.cold`, items appended
            by :meth:`RecGraph.with_new_items`) are scored from their features alone.
        hops: For a model that trains on sampled subgraphs (:class:`SampledGraph`): how many
            hops of neighbours its forward pass reads around a node, given the built model.
            ``None`` for a model that needs the whole graph at every step.
    """

    trainable: bool = True
    cold_start: bool = False
    hops: Callable[[Recommender], int] | None = None


class Recommender(Module, ABC):
    """Base class: embed the whole graph once per step, then score pairs or full rankings.

    Subclasses build themselves from a graph (:meth:`from_graph`) and implement
    :meth:`forward`, which returns the user and item representations; dot-product scoring, a
    zero regularizer and the BPR :meth:`batch_loss` are the defaults.  Models with auxiliary
    objectives (FREEDOM's modality BPR, BM3's self-supervised terms) override
    :meth:`batch_loss`.
    """

    capabilities = Capabilities()
    sparse_grads = False  # True: table rows a step reads get sparse gradients (mini-batch training)
    # How the model's reference implementation trains it: ``train.*`` values (lr, weight_decay,
    # network_lr_scale, network_weight_decay, meta_lr_scale, meta_weight_decay, batch_size,
    # num_negatives, negatives) that a run takes unless it sets them; the rest come from
    # :data:`~mmgraph.train.config.TRAIN_DEFAULTS` (MMRec's one Adam rate, no decay)
    train_defaults: dict[str, float | int] = {}

    @classmethod
    def resolved_options(cls, options: Mapping[str, object] | None = None) -> dict[str, object]:
        """Every option of the model with ``options`` applied and each default that depends on
        another option filled in as the constructor fills it (e.g. MetaMMF's per-variant
        defaults); the base class's defaults depend on nothing."""
        return constructor_options(cls) | dict(options or {})

    @classmethod
    def train_settings(cls, options: dict) -> dict[str, float | int]:
        """The training defaults of a model built with ``options`` (:attr:`train_defaults`;
        a model whose reference trains its variants differently overrides this)."""
        return cls.train_defaults

    @classmethod
    @abstractmethod
    def from_graph(cls, graph: RecGraph, **options) -> Recommender:
        """The model sized for ``graph`` (its users, items, modalities and vocabularies), built
        with the keyword ``options`` of its constructor."""

    @abstractmethod
    def forward(self, graph: GraphView) -> tuple[Tensor, Tensor]:
        """Representations of all users ``[U, d]`` and all items ``[I, d]`` of ``graph`` (the
        whole graph, or a sampled subgraph for models that declare sampling hops)."""

    def score(self, user_emb: Tensor, item_emb: Tensor, users: Tensor, items: Tensor) -> Tensor:
        """Scores ``[B]`` of the pairs ``(users[b], items[b])``."""
        return (user_emb[users] * item_emb[items]).sum(-1)

    def full_scores(self, user_emb: Tensor, item_emb: Tensor, users: Tensor) -> Tensor:
        """Scores ``[B, I]`` of every item for each user in ``users``."""
        return user_emb[users] @ item_emb.t()

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        """Extra loss term for a batch (e.g. L2 on the embeddings it used); zero by default."""
        return torch.zeros((), device=users.device)

    def start_epoch(self, graph: RecGraph, generator: torch.Generator) -> None:
        """Called by the trainer before each training epoch, with its random generator (e.g.
        FREEDOM resamples its pruned graph, LATTICE rebuilds its learned item graph); no-op by
        default."""

    def batch_loss(self, graph: GraphView, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        """Training loss of one batch: users ``[B]``, positive items ``[B]``, sampled negatives
        ``[B, k]``; BPR on :meth:`score` plus :meth:`regularization`."""
        user_emb, item_emb = self(graph)  # whole graph (or sampled subgraph) once per step
        # ids are local to ``graph``; the regularizer reads the tables by global id
        items = graph.global_items(torch.cat([pos, negs.flatten()]))
        return self.bpr(user_emb, item_emb, users, pos, negs) + self.regularization(
            graph.global_users(users), items
        )

    def bpr(
        self, user_emb: Tensor, item_emb: Tensor, users: Tensor, pos: Tensor, negs: Tensor
    ) -> Tensor:
        """BPR loss of the batch's (user, positive, negatives) scored by :meth:`score`."""
        return bpr_loss(
            self.score(user_emb, item_emb, users, pos),
            self.score(user_emb, item_emb, users.unsqueeze(1), negs),
        )

    def rows(self, table: Embedding, ids: Tensor | None) -> Tensor:
        """``table``'s rows ``ids`` (all for ``None``, e.g. a whole graph's ``user_ids``), with a
        sparse gradient when :attr:`sparse_grads` is on."""
        return (
            table.weight
            if ids is None
            else F.embedding(ids, table.weight, sparse=self.sparse_grads)
        )

    def sparse_tables(self) -> list[Parameter]:
        """The per-user / per-item tables whose gradients are sparse under
        :attr:`sparse_grads` (models that train on sampled subgraphs); none by default."""
        return []

    @staticmethod
    def l2_penalty(weight: float, *rows: Tensor) -> Tensor:
        """``weight`` times the summed mean squared norms of embedding rows a batch used (the
        L2 regularizer of LightGCN and MetaMMF on their layer-0 tables)."""
        if not weight:
            return torch.zeros((), device=rows[0].device)
        return weight * sum(r.pow(2).sum(-1).mean() for r in rows)

    @staticmethod
    def norm_penalty(weight: float, *rows: Tensor, count: int | None = None) -> Tensor:
        """``weight`` times the summed Frobenius norms (not squared) of ``rows``, over ``count``
        (default: the last tensor's rows): MMRec's ``EmbLoss`` (``src/common/loss.py``), the
        regularizer its BPR, LightGCN, VBPR and BM3 train with, and which their reference
        ``reg_weight`` grids are for."""
        if not weight:
            return torch.zeros((), device=rows[0].device)
        return weight * sum(torch.linalg.norm(r) for r in rows) / (count or rows[-1].size(0))

    def embedding_parameters(self) -> list[Parameter]:
        """Free per-user / per-item / per-word vectors (every embedding table by default)."""
        return [m.weight for m in self.modules() if isinstance(m, (Embedding, EmbeddingBag))]

    def meta_parameters(self) -> list[Parameter]:
        """A hypernetwork's parameters (MetaMMF's meta information extractor and the meta
        layers' dynamic tensors); none by default."""
        return []

    def parameter_groups(self) -> dict[str, list[Parameter]]:
        """Every parameter in exactly one group: ``"embeddings"`` (:meth:`embedding_parameters`),
        ``"meta"`` (:meth:`meta_parameters`) and ``"network"`` (every other one: feature
        projections, static fusion, graph layers).  The trainer gives each group its own
        learning rate and weight decay (``train.lr`` / ``weight_decay``, ``train.network_*``,
        ``train.meta_*``)."""
        group_of = {id(p): "embeddings" for p in self.embedding_parameters()}
        for p in self.meta_parameters():
            if id(p) in group_of:
                raise ValueError(
                    f"{type(self).__name__}: a parameter is declared both an embedding and a meta parameter"
                )
            group_of[id(p)] = "meta"
        groups: dict[str, list[Parameter]] = {"embeddings": [], "network": [], "meta": []}
        for p in self.parameters():
            groups[group_of.get(id(p), "network")].append(p)
        return groups

    def diagnostics(self, graph: RecGraph) -> dict:
        """Numbers that describe the model's state (e.g. how dynamic MetaMMF's fusion is),
        recorded at every validation in ``metrics.json``'s history; none by default."""
        return {}

    def item_diagnostics(self, graph: RecGraph) -> dict[str, Tensor]:
        """Per-item arrays ``[I, ...]`` that ``export`` writes beside the embeddings (e.g.
        MetaMMF's meta vectors and dynamic shares); none by default."""
        return {}
