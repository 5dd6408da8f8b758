"""LGMRec: local (graph) and global (hypergraph) multimodal embeddings."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict, ParameterDict
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Positive, Size, Weight
from mmgraph.nn import smooth, spmm
from mmgraph.utils.spec import Spec


class LGMRec(FeatureRecommender):
    r"""LGMRec from `"LGMRec: Local and Global Graph Learning for Multimodal Recommendation"
    <https://arxiv.org/abs/2312.16400>`_ (Guo et al., AAAI 2024), computed as the authors'
    code computes it (github.com/georgeguo-cn/LGMRec, ``models/lgmrec.py``).

    With :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` the normalized
    ``[U + I, U + I]`` user-item adjacency and :math:`\mathbf{R}` the binary ``[U, I]``
    interaction matrix:

    *Local* (collaborative + modality graph embeddings). LightGCN over the ID embeddings
    (the mean of layers :math:`0..L`, ``ui_layers``), and per modality :math:`m` the item
    features projected without bias, :math:`\mathbf{F}^m = \mathbf{X}^m\mathbf{W}_m`, with each
    user's mean of their items' rows, propagated ``modality_layers`` times (last layer only):

    .. math::
        \mathbf{E}^{cf} = \frac{1}{L+1}\sum_{l=0}^{L}\hat{\mathbf{A}}^l
        \begin{bmatrix}\mathbf{E}^{id}_u\\ \mathbf{E}^{id}_i\end{bmatrix}, \qquad
        \mathbf{E}^{m} = \hat{\mathbf{A}}^{L_m}
        \begin{bmatrix}\mathbf{D}_u^{-1}\mathbf{R}\mathbf{F}^m\\ \mathbf{F}^m\end{bmatrix}

    *Global* (hypergraph embeddings). ``hyperedges`` learned hyperedges :math:`\mathbf{V}_m`
    per modality; items' memberships are a Gumbel-softmax of :math:`\mathbf{X}^m\mathbf{V}_m`,
    users' a Gumbel-softmax of their items' *summed logits*; in training each membership matrix
    then goes through dropout (keep probability ``keep_rate``, kept entries scaled by
    :math:`1/\rho`); hyperedges read the items' LightGCN output :math:`\mathbf{E}^{cf}_i`:

    .. math::
        \mathbf{H}^m_i = \mathrm{softmax}\big((\mathbf{X}^m\mathbf{V}_m + \mathbf{G})/\tau\big),
        \quad \mathbf{H}^m_u = \mathrm{softmax}\big((\mathbf{R}\mathbf{X}^m\mathbf{V}_m
        + \mathbf{G}')/\tau\big), \quad \tilde{\mathbf{H}} = \mathrm{dropout}_{1-\rho}(\mathbf{H})

    .. math::
        \mathbf{Z}^{(l)} = \tilde{\mathbf{H}}^{m\top}_i\mathbf{G}^{m,(l-1)}_i, \quad
        \mathbf{G}^{m,(l)}_i = \tilde{\mathbf{H}}^m_i\mathbf{Z}^{(l)}, \quad
        \mathbf{G}^{m}_u = \tilde{\mathbf{H}}^m_u\mathbf{Z}^{(L_h)}, \qquad
        \mathbf{G}^{m,(0)}_i = \mathbf{E}^{cf}_i

    for :math:`l = 1..L_h` (``hyper_layers``), with :math:`\mathbf{G}, \mathbf{G}'` Gumbel(0, 1)
    noise.  The final embeddings (scored by dot product) are

    .. math::
        \mathbf{E} = \mathbf{E}^{cf} + \sum_m \mathrm{norm}(\mathbf{E}^m)
        + \alpha\,\mathrm{norm}\Big(\sum_m \mathbf{G}^m\Big).

    The loss of a batch of :math:`B` triples :math:`(u_n, p_n, N_n)` is BPR (mean) plus
    ``cl_weight`` times the hypergraph InfoNCE, *summed* over the batch (duplicates included),
    with every user (item) as a negative, and ``reg_weight`` times the L2 norms (not squared)
    of the batch's final embeddings over :math:`B`:

    .. math::
        \mathcal{L}_{cl} = \sum_{(a,b)}\Big[\sum_{n=1}^{B} -\log
        \frac{e^{s(\mathbf{g}^a_{u_n}, \mathbf{g}^b_{u_n})/\tau}}
        {\sum_{u=1}^{U} e^{s(\mathbf{g}^a_{u_n}, \mathbf{g}^b_{u})/\tau}}
        + \sum_{n=1}^{B} -\log
        \frac{e^{s(\mathbf{g}^a_{p_n}, \mathbf{g}^b_{p_n})/\tau}}
        {\sum_{i=1}^{I} e^{s(\mathbf{g}^a_{p_n}, \mathbf{g}^b_{i})/\tau}}\Big], \qquad
        \mathcal{L}_{reg} = \frac{\|\mathbf{E}_{u}\|_2 + \|\mathbf{E}_{p}\|_2 + \|\mathbf{E}_{N}\|_2}{B}

    with :math:`s` the cosine similarity, :math:`\mathbf{g}^m` rows of :math:`\mathbf{G}^m`
    and :math:`(a, b)` the pairs of modalities in order (the reference's only pair is
    (image, text): image anchors, text gives positives and negatives).

    Shapes: :meth:`embed` ``[U, d]``, ``[I, d]``; :meth:`memberships` per modality ``[U, K]``,
    ``[I, K]``; :meth:`parts` ``[U + I, d]`` and per modality ``[U + I, d]``.

    Remaining differences from the reference, and why:

    * Evaluation (``eval()``) uses the noise-free memberships
      :math:`\mathrm{softmax}(\cdot/\tau)`; the reference draws Gumbel noise in
      ``full_sort_predict`` too (a new draw for every batch of users), so its rankings are
      random.  Dropout is train-only in both.
    * Training noise and dropout masks come from the generator the trainer passes to
      :meth:`start_epoch` (the global torch RNG before that, or on another device type), not
      from the global RNG: the draws differ, their distributions do not.
    * The reference supports exactly two modalities; with more, :math:`\mathcal{L}_{cl}` sums
      over every pair in modality order, with one modality it is zero (the reference's forward
      would fail).  Bag-of-words modalities enter through a learned encoder
      (:class:`~mmgraph.models.inputs.ItemInputs`) where the reference reads frozen features.
    * With ``k > 1`` negatives per triple, BPR averages over all ``B k`` pairs and
      :math:`\|\mathbf{E}_N\|_2` covers all of them (still over :math:`B`); the reference draws one.
    * The reference's ``cf_model: mf`` is ``ui_layers=0``; its ``feat_embed_dim`` must equal its
      ``embedding_size`` (the two are summed) and is ``embedding_dim`` here; it hard-codes
      :math:`\tau = 0.2` for both the Gumbel-softmax and the InfoNCE, exposed here as ``tau``.

    The defaults are the reference's Amazon Baby settings (``configs/dataset/baby.yaml``);
    Sports uses ``ui_layers=4, keep_rate=0.4, alpha=0.6``, Clothing ``hyper_layers=2,
    hyperedges=64, keep_rate=0.2, alpha=0.2``.  The reference trains with Adam, lr 1e-3, no
    weight decay, batches of 2048 with one negative.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): Embedding size :math:`d` (reference ``embedding_size``,
            ``feat_embed_dim``). (default: 64)
        ui_layers (int): LightGCN layers :math:`L` on the IDs (``n_ui_layers``). (default: 2)
        modality_layers (int): Propagations :math:`L_m` of the modality features
            (``n_mm_layers``). (default: 2)
        hyper_layers (int): Hypergraph layers :math:`L_h` (``n_hyper_layer``). (default: 1)
        hyperedges (int): Hyperedges :math:`K` per modality (``hyper_num``). (default: 4)
        keep_rate (float): Keep probability :math:`\rho` of the membership dropout in training
            (``keep_rate``; 1 disables it). (default: 0.5)
        tau (float): Gumbel-softmax and InfoNCE temperature :math:`\tau`. (default: 0.2)
        alpha (float): Weight :math:`\alpha` of the global embeddings (``alpha``). (default: 0.3)
        cl_weight (float): Weight of :math:`\mathcal{L}_{cl}` (``cl_weight``). (default: 1e-4)
        reg_weight (float): Weight of :math:`\mathcal{L}_{reg}` (``reg_weight``). (default: 1e-6)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        ui_layers: Count = 2,
        modality_layers: Count = 2,
        hyper_layers: Size = 1,
        hyperedges: Size = 4,
        keep_rate: Annotated[float, Spec(low=0, low_open=True, high=1)] = 0.5,
        tau: Positive = 0.2,
        alpha: Weight = 0.3,
        cl_weight: Weight = 1e-4,
        reg_weight: Weight = 1e-6,
        word_dim: Size = 64,
    ):
        super().__init__()
        if hyperedges < 1 or hyper_layers < 1 or tau <= 0 or not 0 < keep_rate <= 1:
            raise ValueError(
                f"LGMRec: needs hyperedges >= 1, hyper_layers >= 1, tau > 0 and keep_rate in (0, 1], "
                f"got {hyperedges}, {hyper_layers}, {tau}, {keep_rate}"
            )
        if ui_layers < 0 or modality_layers < 0:
            raise ValueError(
                f"LGMRec: layer counts must be >= 0, got {ui_layers}, {modality_layers}"
            )
        self.num_users, self.num_items = num_users, num_items
        self.ui_layers, self.modality_layers, self.hyper_layers = (
            ui_layers,
            modality_layers,
            hyper_layers,
        )
        self.keep_rate, self.tau, self.alpha = keep_rate, tau, alpha
        self.cl_weight, self.reg_weight = cl_weight, reg_weight
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="LGMRec")
        self.transforms = ModuleDict(
            {
                m: Linear(d, embedding_dim, bias=False, weight_initializer="glorot")
                for m, d in self.inputs.dims.items()
            }
        )
        self.hyper = ParameterDict(
            {m: torch.nn.Parameter(torch.empty(d, hyperedges)) for m, d in self.inputs.dims.items()}
        )
        self.user = Embedding(num_users, embedding_dim)
        self.item = Embedding(num_items, embedding_dim)
        self._generator: torch.Generator | None = None  # the trainer's, from start_epoch
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for lin in self.transforms.values():
            lin.reset_parameters()  # glorot: the reference's xavier_uniform_ of [d_m, d]
        for p in self.hyper.values():
            torch.nn.init.xavier_uniform_(p)
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)

    def start_epoch(self, graph: RecGraph, generator: torch.Generator) -> None:
        self._generator = generator  # Gumbel noise and dropout masks of the coming steps

    def _rng(self, device: torch.device) -> torch.Generator | None:
        gen = self._generator
        return gen if gen is not None and gen.device.type == device.type else None

    def _soft(self, logits: Tensor, generator: torch.Generator | None) -> Tensor:
        """Soft hyperedge memberships of the rows of ``logits``: the Gumbel-softmax in training
        (as ``F.gumbel_softmax(hard=False)``), the noise-free softmax at evaluation."""
        if self.training:
            logits = logits - torch.empty_like(logits).exponential_(generator=generator).log()
        return torch.softmax(logits / self.tau, dim=1)

    def _drop(self, h: Tensor, generator: torch.Generator | None) -> Tensor:
        """Dropout of membership entries in training (as ``nn.Dropout(1 - keep_rate)``)."""
        if not self.training or self.keep_rate >= 1:
            return h
        keep = torch.rand(h.shape, device=h.device, generator=generator) < self.keep_rate
        return h * keep / self.keep_rate

    def memberships(
        self, graph: RecGraph, inputs: dict[str, Tensor] | None = None
    ) -> dict[str, tuple[Tensor, Tensor]]:
        """Each modality's user ``[U, K]`` and item ``[I, K]`` hyperedge memberships (after
        the training dropout)."""
        inputs = self.inputs(graph) if inputs is None else inputs
        r = graph.interactions()  # the binary R, cached by the graph
        out = {}
        for m, x in inputs.items():
            item_logits = x @ self.hyper[m]
            user_logits = spmm(r, item_logits)  # summed over the user's items, before any softmax
            gen = self._rng(item_logits.device)
            # the reference's order: both Gumbel-softmaxes, then both dropouts
            h_item, h_user = self._soft(item_logits, gen), self._soft(user_logits, gen)
            h_item = self._drop(h_item, gen)
            out[m] = (self._drop(h_user, gen), h_item)
        return out

    def hypergraph(self, h_user: Tensor, h_item: Tensor, item_emb: Tensor) -> tuple[Tensor, Tensor]:
        """``hyper_layers`` rounds items -> hyperedges -> items; users read the last round's
        hyperedge embeddings.  Returns users' ``[U, d]`` and items' ``[I, d]``."""
        out = item_emb
        for _ in range(self.hyper_layers):
            z = h_item.t() @ out  # [K, d] hyperedge embeddings
            out = h_item @ z
        return h_user @ z, out

    def parts(self, graph: RecGraph) -> tuple[Tensor, dict[str, Tensor]]:
        """All ``[U + I, d]`` final embeddings and each modality's ``[U + I, d]`` global
        (hypergraph) embeddings."""
        adj = graph.adjacency("gcn")
        cf = smooth(adj, torch.cat([self.user.weight, self.item.weight]), self.ui_layers)
        inputs = self.inputs(graph)
        members = self.memberships(graph, inputs)
        mge, glob = 0, {}
        for m, x in inputs.items():
            f = self.transforms[m](x)
            h = torch.cat([graph.user_means(f), f])
            for _ in range(self.modality_layers):  # the last layer, no layer mean
                h = spmm(adj, h)
            mge = mge + F.normalize(h, dim=1)
            glob[m] = torch.cat(self.hypergraph(*members[m], cf[self.num_users :]))
        return cf + mge + self.alpha * F.normalize(sum(glob.values()), dim=1), glob

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        out, _ = self.parts(graph)
        return out[: self.num_users], out[self.num_users :]

    def _info_nce_sum(self, anchor: Tensor, other: Tensor, rows: Tensor) -> Tensor:
        """Summed InfoNCE of ``anchor[rows]`` against ``other[rows]``, every row of ``other`` a
        candidate (the reference's ``ssl_triple_loss``)."""
        with torch.autocast(anchor.device.type, enabled=False):
            a = F.normalize(anchor[rows].float(), dim=1)
            logits = a @ F.normalize(other.float(), dim=1).t() / self.tau  # [B, N]
            return (
                torch.logsumexp(logits, 1) - logits.gather(1, rows.unsqueeze(1)).squeeze(1)
            ).sum()

    def contrastive_loss(self, glob: Mapping[str, Tensor], users: Tensor, pos: Tensor) -> Tensor:
        r""":math:`\mathcal{L}_{cl}` (unweighted) of the batch's users ``[B]`` and positives
        ``[B]`` from :meth:`parts`' global embeddings."""
        u = self.num_users
        loss = torch.zeros((), device=users.device)
        for a, b in itertools.combinations(glob.values(), 2):
            loss = (
                loss
                + self._info_nce_sum(a[:u], b[:u], users)
                + self._info_nce_sum(a[u:], b[u:], pos)
            )
        return loss

    def regularization(
        self,
        users: Tensor,
        items: Tensor,
        user_emb: Tensor | None = None,
        item_emb: Tensor | None = None,
    ) -> Tensor:
        r"""``reg_weight`` times :math:`\mathcal{L}_{reg}` over rows of ``user_emb`` /
        ``item_emb`` (the final embeddings, as :meth:`batch_loss` passes them; the ID tables
        when omitted).  ``items`` = the ``B`` positives, then the negatives."""
        user_emb = self.user.weight if user_emb is None else user_emb
        item_emb = self.item.weight if item_emb is None else item_emb
        b = users.numel()
        return self.norm_penalty(
            self.reg_weight,
            user_emb[users].float(),
            item_emb[items[:b]].float(),
            item_emb[items[b:]].float(),
            count=b,
        )

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        out, glob = self.parts(graph)
        user_emb, item_emb = out[: self.num_users], out[self.num_users :]
        loss = self.bpr(user_emb, item_emb, users, pos, negs)
        loss = loss + self.regularization(
            users, torch.cat([pos, negs.flatten()]), user_emb, item_emb
        )
        if self.cl_weight and len(glob) > 1:
            loss = loss + self.cl_weight * self.contrastive_loss(glob, users, pos)
        return loss

    def extra_repr(self) -> str:
        return (
            f"users={self.num_users}, items={self.num_items}, modalities={list(self.transforms)}, "
            f"hyperedges={next(iter(self.hyper.values())).size(1)}, keep_rate={self.keep_rate}"
        )
