"""GRCN: the user-item graph refined (re-weighted, pruned) by how well each item's content fits each user."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Annotated, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Rate, Size, Weight
from mmgraph.utils.spec import Spec

EDGE_FUSIONS = ("confid", "max", "mean")
FUSION_MODES = ("concat", "mean", "id")


class _Edges(NamedTuple):
    """The (user, item) pairs of a graph in both CSR orders, for products with per-edge weights."""

    users: Tensor  # [E], the graph's edge order
    items: Tensor
    num_users: int
    num_items: int
    by_user: Tensor  # permutation sorting the edges by user
    user_ptr: Tensor  # [U + 1]
    user_cols: Tensor  # items[by_user]
    by_item: Tensor
    item_ptr: Tensor  # [I + 1]
    item_cols: Tensor  # users[by_item]

    @classmethod
    def of(cls, edge_index: Tensor, num_users: int, num_items: int) -> _Edges:
        users, items = edge_index[0], edge_index[1]
        u_sorted, by_user = torch.sort(users, stable=True)
        i_sorted, by_item = torch.sort(items, stable=True)
        # searchsorted, not bincount: no device -> host sync on CUDA
        user_ptr = torch.searchsorted(u_sorted, torch.arange(num_users + 1, device=users.device))
        item_ptr = torch.searchsorted(i_sorted, torch.arange(num_items + 1, device=items.device))
        return cls(
            users,
            items,
            num_users,
            num_items,
            by_user,
            user_ptr,
            items[by_user],
            by_item,
            item_ptr,
            users[by_item],
        )

    def matrix(self, weight: Tensor, to_users: bool) -> Tensor:
        """CSR ``[U, I]`` with ``weight`` at (u, i) (``to_users``), else ``[I, U]`` at (i, u)."""
        if to_users:
            ptr, col, order, size = (
                self.user_ptr,
                self.user_cols,
                self.by_user,
                (self.num_users, self.num_items),
            )
        else:
            ptr, col, order, size = (
                self.item_ptr,
                self.item_cols,
                self.by_item,
                (self.num_items, self.num_users),
            )
        with warnings.catch_warnings():  # torch's "sparse CSR is in beta" notice
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(ptr, col, weight[order], size, check_invariants=False)

    def dot(self, a: Tensor, b: Tensor) -> Tensor:
        r"""``[E]``: :math:`\mathbf{a}_u^\top\mathbf{b}_i` per edge, for user rows ``a [U, d]`` and item
        rows ``b [I, d]`` (a sampled dense-dense product, no ``[E, d]`` gathers)."""
        pattern = self.matrix(a.new_zeros(self.users.numel()), to_users=True)
        values = torch.sparse.sampled_addmm(pattern, a, b.t(), beta=0.0).values()
        return values.new_empty(values.shape).scatter_(
            0, self.by_user, values
        )  # back to edge order


class _EdgeSpmm(torch.autograd.Function):
    """``y[k] = sum_e w_e x[j_e]`` over the edges into ``k``, differentiable in ``w`` and ``x``;
    the backward pass reuses the other CSR order instead of transposing."""

    @staticmethod
    def forward(ctx, weight: Tensor, x: Tensor, edges: _Edges, to_users: bool) -> Tensor:
        ctx.save_for_backward(weight, x)
        ctx.edges, ctx.to_users = edges, to_users
        return torch.sparse.mm(edges.matrix(weight, to_users), x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, x = ctx.saved_tensors
        edges, to_users = ctx.edges, ctx.to_users
        grad_w = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_w = edges.dot(grad, x) if to_users else edges.dot(x, grad)
        if ctx.needs_input_grad[1]:
            grad_x = torch.sparse.mm(edges.matrix(weight, not to_users), grad)
        return grad_w, grad_x, None, None


class _EdgeDot(torch.autograd.Function):
    """Per-edge affinities ``[E]`` of user rows and item rows; both gradients are CSR products."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, edges: _Edges) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.edges = edges
        return edges.dot(a, b)

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, b = ctx.saved_tensors
        edges = ctx.edges
        grad_a = (
            torch.sparse.mm(edges.matrix(grad, to_users=True), b)
            if ctx.needs_input_grad[0]
            else None
        )
        grad_b = (
            torch.sparse.mm(edges.matrix(grad, to_users=False), a)
            if ctx.needs_input_grad[1]
            else None
        )
        return grad_a, grad_b, None


@torch.compiler.disable
def _affinity(edges: _Edges, users: Tensor, items: Tensor) -> Tensor:
    r""":math:`\mathbf{p}_u^\top\mathbf{c}_i` for every edge (``[E]``, the graph's edge order)."""
    dtype = torch.promote_types(torch.promote_types(users.dtype, items.dtype), torch.float32)
    with torch.autocast(users.device.type, enabled=False):
        return _EdgeDot.apply(users.to(dtype), items.to(dtype), edges)


@torch.compiler.disable
def _propagate(edges: _Edges, weight: Tensor, x: Tensor, to_users: bool) -> Tensor:
    """Item rows ``x [I, d]`` summed into users with weights ``weight [E]`` (``to_users``), or
    user rows ``x [U, d]`` into items."""
    dtype = torch.promote_types(x.dtype, torch.float32)  # sparse kernels: no bf16 / fp16 path
    with torch.autocast(x.device.type, enabled=False):
        return _EdgeSpmm.apply(weight.to(dtype), x.to(dtype), edges, to_users)


def _edge_softmax(
    logits: Tensor, index: Tensor, num_groups: int, keep: Tensor | None = None
) -> Tensor:
    r"""Softmax of ``logits [E]`` within each group of ``index`` (PyG's ``softmax``; the logits
    are cosines in :math:`[-1, 1]`, so no max is subtracted), dropped edges (``keep`` false)
    left out."""
    e = logits.exp()
    if keep is not None:
        e = e * keep
    total = torch.zeros(num_groups, dtype=e.dtype, device=e.device).index_add_(0, index, e)
    return e / (total[index] + 1e-16)


class Refined(NamedTuple):
    """What :meth:`GRCN.refine` computes: the edge weights (``[E]``, or ``[M, E]`` per modality,
    in the order of ``graph.edge_index``) and each modality's vectors."""

    to_item: Tensor  # [E] refined weight of the message u -> i (aggregated at item i)
    to_user: Tensor  # [E] refined weight of the message i -> u (aggregated at user u)
    alpha_to_item: Tensor  # [M, E] per-modality softmax over each item's users
    alpha_to_user: Tensor  # [M, E] per-modality softmax over each user's items
    preferences: list[Tensor]  # per modality [U, C], after routing
    contents: list[Tensor]  # per modality [I, C]


class GRCN(FeatureRecommender):
    r"""GRCN from `"Graph-Refined Convolutional Network for Multimedia Recommendation with
    Implicit Feedback" <https://arxiv.org/abs/2111.02036>`_ (Wei et al., MM 2020), as MMRec
    implements it (``src/models/grcn.py``, from the authors' ``Model_routing.py``).

    **Graph refining layer**, per modality :math:`m`: item content and user preference
    (a learned table :math:`\mathbf{P}^m`), both L2-normalized,

    .. math::
        \mathbf{c}^m_i = \mathrm{norm}\big(\mathrm{LReLU}(\mathbf{W}_m\mathbf{x}^m_i + \mathbf{b}_m)\big),
        \qquad \mathbf{p}^m_u = \mathrm{norm}(\mathbf{P}^m_u),

    optionally ``routing`` iterations :math:`\mathbf{p}^m_u \leftarrow \mathrm{norm}\big(
    \mathbf{p}^m_u + \sum_{i \in \mathcal{N}(u)} \mathrm{softmax}_{i \in \mathcal{N}(u)}
    (\mathbf{p}^{m\top}_u\mathbf{c}^m_i)\,\mathbf{c}^m_i\big)` (see the note below: the reference
    runs none), then each interaction's affinity :math:`l^m_{ui} = \mathbf{p}^{m\top}_u
    \mathbf{c}^m_i` scores both directions of the edge, normalized at the receiving node:

    .. math::
        \alpha^m_{u \to i} = \mathrm{softmax}_{u \in \mathcal{N}(i)}(l^m_{ui}), \qquad
        \alpha^m_{i \to u} = \mathrm{softmax}_{i \in \mathcal{N}(u)}(l^m_{ui}).

    **Modality fusion of the edge weights** (``edge_fusion``, the reference's ``weight_mode``)
    for a message :math:`j \to k`: ``"mean"`` :math:`\frac{1}{M}\sum_m \alpha^m_{j \to k}`,
    ``"max"`` :math:`\max_m \alpha^m_{j \to k}`, ``"confid"`` :math:`\max_m \alpha^m_{j \to k}
    \kappa_{j, m}` with a learned confidence :math:`\boldsymbol{\kappa} \in
    \mathbb{R}^{(U + I) \times M}` of the *sending* node :math:`j` (the user on
    :math:`u \to i`, the item on :math:`i \to u`).  **Pruning** (``pruning``):
    :math:`w_{j \to k} = \max(0, \cdot)`; only ``"confid"`` weights can be negative, so only
    there it removes edges (those whose sender has no modality with positive confidence).

    **GCN over the refined graph** (ID channel): :math:`\mathbf{h}^{(0)} =
    \mathrm{norm}(\mathbf{E})`, :math:`\mathbf{h}^{(l+1)}_k = \sum_{j \in \mathcal{N}(k)}
    w_{j \to k}\,\mathbf{h}^{(l)}_j` (``"add"`` aggregation, no weight matrix, no activation),
    :math:`\mathbf{e}^*_k = \sum_{l=0}^{L} \mathbf{h}^{(l)}_k`.  **Per modality**, one
    attention layer with the :math:`\alpha^m`: :math:`\hat{\mathbf{p}}^m_u = \mathbf{p}^m_u +
    \sum_{i} \alpha^m_{i \to u}\mathbf{c}^m_i`, :math:`\hat{\mathbf{c}}^m_i = \mathbf{c}^m_i +
    \sum_{u} \alpha^m_{u \to i}\mathbf{p}^m_u`.

    **Prediction** (``fusion_mode``): ``"concat"``
    :math:`\mathbf{z}_u = [\mathbf{e}^*_u \,\|\, \hat{\mathbf{p}}^1_u \,\|\, \dots \,\|\,
    \hat{\mathbf{p}}^M_u]` (items alike with :math:`\hat{\mathbf{c}}`), ``"mean"`` the mean of
    those :math:`M + 1` vectors, ``"id"`` :math:`\mathbf{e}^*` alone;
    :math:`\hat{y}_{ui} = \mathbf{z}_u^\top\mathbf{z}_i`.  **Loss**: BPR plus
    ``reg_weight`` times the mean squares (over rows *and* dimensions) of the batch's ID rows
    :math:`\mathbf{E}_u, \mathbf{E}_i` and preference rows :math:`\mathbf{P}^m_u`, plus MMRec's
    mean square of the whole first modality's :math:`\mathbf{P}` (its ``v_gcn``); the
    confidences are not regularized.  Initialization: Xavier-normal
    :math:`\mathbf{E}, \mathbf{P}^m, \boldsymbol{\kappa}, \mathbf{W}_m`.

    Differences from the reference, and why:

    * **Routing.**  Both MMRec and the authors' code run ``num_routing`` (3) iterations
      ``preference + GATConv(x, edge_index)[:num_user]``, but their ``edge_index`` holds
      user -> item pairs, which PyG (1.2.1 as in 2.x) aggregates at the *items*: the user rows
      are zero and the preferences never change.  ``routing=0`` (the default) is therefore
      exactly the reference; ``routing >= 1`` runs the routing the paper describes (messages
      item -> user) as an option.
    * MMRec scores the evaluation with the representation of the last *training* forward
      (``self.result``); here :meth:`embed` recomputes it with the current parameters.
    * Edge dropout (``dropout``, MMRec's ``dropout_adj``, 0 there) drops interactions only in
      training (``dropout_adj`` defaults to dropping at evaluation too), by masking their
      weights rather than removing them (no host sync); the result equals removal.
    * Bag-of-words modalities (TikTok's text) go through a learned
      :class:`~mmgraph.nn.BagOfWordsEncoder` and then the modality's MLP; the authors average
      ``dim_C`` word embeddings without the MLP, MMRec reads dense text features.
    * Any number of modalities (MMRec: visual and textual; authors: plus acoustic); ``"mean"``
      fusion divides by :math:`M + 1` (the authors' fixed 4 = three modalities + ID) and needs
      ``embedding_dim == content_dim``; ``num_layers`` generalizes the fixed two ID layers.
    * The reference's fixed ``has_norm=True``, ``has_act=False`` are built in.  The authors'
      README runs ``--is_pruning=False``; MMRec prunes, and so does the default here.
      The authors' MLP keeps PyTorch's default init; MMRec's Xavier-normal is used here.
    * The whole-table preference penalty goes to the first modality (dense ones first), which
      is MMRec's ``v_feat`` on its datasets; the authors' code has no such term.
    * The softmax subtracts no maximum (the affinities are cosines in :math:`[-1, 1]`); every
      sum over edges is a CSR sparse-dense product, and the affinities a sampled dense-dense
      product, instead of PyG message passing: the same numbers, without ``[E, d]`` message
      tensors.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): ID embedding size (MMRec ``embedding_size``). (default: 64)
        content_dim (int): Size of :math:`\mathbf{c}^m`, :math:`\mathbf{p}^m` (MMRec
            ``latent_embedding``). (default: 64)
        num_layers (int): ID GCN layers over the refined graph (fixed 2 in the reference).
            (default: 2)
        routing (int): Routing iterations before scoring the edges; the reference's 3 leave
            the preferences unchanged, which is ``0``. (default: 0)
        edge_fusion (str): ``"confid"``, ``"max"`` or ``"mean"`` (reference ``weight_mode``).
            (default: ``"confid"``)
        pruning (bool): Clamp the fused edge weights at zero (reference ``pruning``).
            (default: :obj:`True`)
        fusion_mode (str): ``"concat"``, ``"mean"`` or ``"id"`` (reference ``fusion_mode``).
            (default: ``"concat"``)
        dropout (float): Share of interactions dropped per training step. (default: 0.0)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): :math:`\lambda` (MMRec searches 1e-1 .. 1e-5; the authors' README
            uses 1e-3 on TikTok, 1e-4 on Movielens). (default: 1e-4)

    Shapes:
        - **input:** a :class:`RecGraph` (the whole graph: it declares no sampling hops)
        - **output:** users :math:`(U, D)`, items :math:`(I, D)` with :math:`D = d_E + M d_C`
          (``"concat"``), :math:`d_E` otherwise
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        content_dim: Size = 64,
        num_layers: Count = 2,
        routing: Count = 0,
        edge_fusion: Annotated[str, Spec(choices=EDGE_FUSIONS)] = "confid",
        pruning: bool = True,
        fusion_mode: Annotated[str, Spec(choices=FUSION_MODES)] = "concat",
        dropout: Rate = 0.0,
        word_dim: Size = 64,
        reg_weight: Weight = 1e-4,
    ):
        super().__init__()
        if edge_fusion not in EDGE_FUSIONS:
            raise ValueError(
                f"GRCN: edge_fusion must be one of {EDGE_FUSIONS}, got '{edge_fusion}'"
            )
        if fusion_mode not in FUSION_MODES:
            raise ValueError(
                f"GRCN: fusion_mode must be one of {FUSION_MODES}, got '{fusion_mode}'"
            )
        if fusion_mode == "mean" and embedding_dim != content_dim:
            raise ValueError(
                f"GRCN: fusion_mode='mean' averages ID and content vectors, so embedding_dim "
                f"({embedding_dim}) must equal content_dim ({content_dim})"
            )
        if routing < 0:
            raise ValueError(f"GRCN: routing must be >= 0, got {routing}")
        if not 0 <= dropout < 1:
            raise ValueError(f"GRCN: dropout must be in [0, 1), got {dropout}")
        self.num_users, self.num_items = num_users, num_items
        self.num_layers, self.routing, self.dropout, self.reg_weight = (
            num_layers,
            routing,
            dropout,
            reg_weight,
        )
        self.edge_fusion, self.pruning, self.fusion_mode = edge_fusion, pruning, fusion_mode
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="GRCN")
        self.project = ModuleDict({m: Linear(d, content_dim) for m, d in self.inputs.dims.items()})
        self.preference = ModuleDict(
            {m: Embedding(num_users, content_dim) for m in self.inputs.dims}
        )
        self.ids = Embedding(num_users + num_items, embedding_dim)
        # per node and modality (MMRec's model_specific_conf); only "confid" reads it
        self.confidence = (
            Embedding(num_users + num_items, len(self.inputs.dims))
            if edge_fusion == "confid"
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in self.project.values():
            lin.reset_parameters()  # bias: PyTorch's default U(+-1/sqrt(fan_in)), as nn.Linear
            torch.nn.init.xavier_normal_(lin.weight)
        tables = [self.ids, *self.preference.values()] + (
            [self.confidence] if self.confidence is not None else []
        )
        for table in tables:
            torch.nn.init.xavier_normal_(table.weight)

    def contents(self, graph: RecGraph) -> dict[str, Tensor]:
        r"""Each modality's item content :math:`\mathbf{c}^m` ``[I, C]``."""
        return {
            m: F.normalize(F.leaky_relu(self.project[m](x)), dim=1)
            for m, x in self.inputs(graph).items()
        }

    def route(self, p: Tensor, c: Tensor, edges: _Edges, keep: Tensor | None = None) -> Tensor:
        """``routing`` iterations of the user preferences ``p [U, C]`` over the contents ``c [I, C]``."""
        for _ in range(self.routing):
            logits = _affinity(edges, p, c)
            alpha = _edge_softmax(logits, edges.users, self.num_users, keep)
            p = F.normalize(p + _propagate(edges, alpha, c, to_users=True), dim=1)
        return p

    def refine(
        self, graph: RecGraph, edges: _Edges | None = None, keep: Tensor | None = None
    ) -> Refined:
        r"""The graph refining layer: per-modality scores :math:`\alpha^m` and the fused, pruned
        weights :math:`w` of every edge, both directions (``keep [E]``: 0 for dropped edges)."""
        edges = (
            edges
            if edges is not None
            else _Edges.of(graph.edge_index, self.num_users, self.num_items)
        )
        users, items = edges.users, edges.items
        protos, contents, to_item, to_user = [], [], [], []
        for m, c in self.contents(graph).items():
            p = self.route(F.normalize(self.preference[m].weight, dim=1), c, edges, keep)
            logits = _affinity(edges, p, c)
            to_item.append(_edge_softmax(logits, items, self.num_items, keep))
            to_user.append(_edge_softmax(logits, users, self.num_users, keep))
            protos.append(p)
            contents.append(c)
        a_item, a_user = torch.stack(to_item), torch.stack(to_user)  # [M, E]
        if self.edge_fusion == "mean":
            w_item, w_user = a_item.mean(0), a_user.mean(0)
        elif self.edge_fusion == "max":
            w_item, w_user = a_item.max(0).values, a_user.max(0).values
        else:  # confidence of the sending node: the user on u -> i, the item on i -> u
            conf = self.confidence.weight
            w_item = (a_item * conf[users].t()).max(0).values
            w_user = (a_user * conf[self.num_users + items].t()).max(0).values
        if self.pruning:
            w_item, w_user = w_item.relu(), w_user.relu()
        return Refined(w_item, w_user, a_item, a_user, protos, contents)

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        edges = _Edges.of(graph.edge_index, self.num_users, self.num_items)
        keep = None
        if self.training and self.dropout > 0:
            keep = (
                torch.rand(graph.edge_index.size(1), device=graph.edge_index.device) >= self.dropout
            ).float()
        r = self.refine(graph, edges, keep)
        h = F.normalize(self.ids.weight, dim=1)
        h_user, h_item = h[: self.num_users], h[self.num_users :]
        out_user, out_item = h_user, h_item
        for _ in range(self.num_layers):
            h_user, h_item = (
                _propagate(edges, r.to_user, h_item, to_users=True),
                _propagate(edges, r.to_item, h_user, to_users=False),
            )
            out_user, out_item = out_user + h_user, out_item + h_item
        if self.fusion_mode == "id":
            return out_user, out_item
        users = [
            p + _propagate(edges, a, c, to_users=True)
            for p, c, a in zip(r.preferences, r.contents, r.alpha_to_user)
        ]
        items = [
            c + _propagate(edges, a, p, to_users=False)
            for p, c, a in zip(r.preferences, r.contents, r.alpha_to_item)
        ]
        if self.fusion_mode == "mean":
            return (
                torch.stack([out_user, *users]).mean(0),
                torch.stack([out_item, *items]).mean(0),
            )
        return torch.cat([out_user, *users], dim=-1), torch.cat([out_item, *items], dim=-1)

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        if not self.reg_weight:
            return torch.zeros((), device=users.device)
        ids = self.ids.weight
        reg = ids[users].pow(2).mean() + ids[self.num_users + items].pow(2).mean()
        tables = [t.weight for t in self.preference.values()]
        reg = reg + sum(p[users].pow(2).mean() for p in tables) + tables[0].pow(2).mean()
        return self.reg_weight * reg

    def extra_repr(self) -> str:
        return (
            f"users={self.num_users}, items={self.num_items}, modalities={list(self.project)}, "
            f"edge_fusion={self.edge_fusion!r}, pruning={self.pruning}, fusion_mode={self.fusion_mode!r}"
        )
