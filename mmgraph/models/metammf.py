"""MetaMMF: per-item (meta-learned) multimodal fusion for micro-video recommendation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict, ModuleList, Parameter

from mmgraph.models.base import Capabilities
from mmgraph.models.graph import GraphView, RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Rate, Size, Weight
from mmgraph.nn import MetaFusion, ModalityConv, ModalityEncoder, StaticFusion, bpr_loss, smooth
from mmgraph.nn.adjacency import NORMALIZATIONS
from mmgraph.nn.modality_conv import COMBINES
from mmgraph.utils.spec import Spec

VARIANTS = ("design", "paper-gcn", "paper-mf")
PROPAGATIONS = ("lightgcn", "sage", "none")
FUSIONS = ("meta-cp", "meta-full", "static")
# what an option left at None means, per variant (the paper variants: as the authors released them;
# meta_hidden None: the extractor's input size; fusion_dropout None: ``dropout``)
_PAPER = {
    "propagation_layers": 2,
    "id_dim": 32,
    "fusion_hidden": [1024, 512, 256],
    "meta_hidden": None,
    "meta_bias": False,
    "reg_weight": 0.0,
    "fusion_dropout": 0.0,
}
VARIANT_DEFAULTS = {
    "design": {
        "propagation": "lightgcn",
        "propagation_layers": 3,
        "id_dim": 64,
        "fusion_hidden": [128],
        "meta_hidden": 64,
        "meta_bias": True,
        "reg_weight": 1e-4,
        "fusion_dropout": None,
    },
    "paper-gcn": {"propagation": "sage", **_PAPER},
    "paper-mf": {"propagation": "none", **_PAPER},
}

# how each variant trains, unless a run sets otherwise (``Recommender.train_settings``)
TRAIN_DEFAULTS = {
    # chosen on validation for this design (docs/results.md): networks slower than the ID
    # tables and decayed, the hypernetwork slower and undecayed, large batches with 5 negatives
    "design": {
        "lr": 0.005,
        "weight_decay": 1e-6,
        "network_lr_scale": 0.25,
        "network_weight_decay": 0.01,
        "meta_lr_scale": 0.25,
        "meta_weight_decay": 0.0,
        "batch_size": 8192,
        "num_negatives": 5,
        "negatives": "trained",
    },
    # the released code (hanliu95/MetaMMF, model_train.py, data_triple.py): one Adam setting (lr
    # 1e-3, weight decay 1e-6) for every parameter; 3000 (user, positive, negative) triples per step
    # with 5 negatives per positive, i.e. 600 positives; negatives from every item
    "paper": {
        "lr": 1e-3,
        "weight_decay": 1e-6,
        "network_lr_scale": 1.0,
        "network_weight_decay": 1e-6,
        "meta_lr_scale": 1.0,
        "meta_weight_decay": 1e-6,
        "batch_size": 600,
        "num_negatives": 5,
        "negatives": "all",
    },
}


class MetaMMF(FeatureRecommender):
    r"""MetaMMF from `"Dynamic Multimodal Fusion via Meta-Learning Towards Micro-Video
    Recommendation" <https://arxiv.org/abs/2501.07110>`_ (Liu et al., ACM TOIS).

    A meta learner reads each item's multimodal features and generates that item's own fusion
    network (:class:`~mmgraph.nn.MetaFusion`); the fused vector, concatenated with a free item
    ID embedding, is scored against a free user embedding by a dot product.

    Variants:

    * ``"design"`` (default): one :class:`~mmgraph.nn.ModalityEncoder` stack per modality
      propagates that modality over the user-item graph; the per-modality item representations
      enter the meta fusion, whose weights come from the hypernetwork on the item's raw
      features: :math:`\mathbf{e}_i = [\mathrm{MetaFusion}(\{\mathbf{h}^m_i\}; \mathbf{s}_i)
      \,\|\, \mathbf{e}^{id}_i]`; user and item vectors are then smoothed LightGCN-style
      over the graph (``propagation``) and scored :math:`y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i`.
    * ``"paper-gcn"``: the paper's MetaMMF_GCN as the released code builds it: fuse first
      (meta layers on the concatenated features, 2276->1024->512->256->32 on MovieLens), item
      ID 32, user 64, then two GraphSAGE-mean layers (here :class:`~mmgraph.nn.ModalityConv`
      with ``normalization="mean", combine="add"``, which is SAGEConv), LeakyReLU between them,
      dropout 0.5 after the first and 0.2 after the second.  As released: the meta information
      extractor is :math:`d \to d \to k` on the concatenated features, the meta layers have no
      bias, the fusion has no dropout, and there is no explicit L2 term (the released code
      relies on Adam's weight decay 1e-6; ``configs/metammf_paper_gcn.toml`` sets it).
    * ``"paper-mf"``: the same without graph layers (MetaMMF_MF).

    Where the released code differs from the paper: its "CP" meta layer multiplies one fixed
    matrix by a single scalar per item (rank one in the meta mode); ``fusion="meta-cp"`` here
    is the true rank-``cp_rank`` CP decomposition, and ``fusion="meta-full"`` the full tensor.

    Missing modalities need no care (the model is built from the dims it is given, e.g. Kwai
    without acoustic); text given as (item, word) pairs (TikTok) is encoded by a learned
    :class:`~mmgraph.nn.BagOfWordsEncoder`.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        variant (str): ``"design"``, ``"paper-gcn"`` or ``"paper-mf"``.
        fusion (str): ``"meta-cp"``, ``"meta-full"`` or ``"static"`` (ablation).
        meta_dim (int): Meta vector size :math:`k`. (default: 5)
        cp_rank (int): CP rank. (default: 16)
        hidden_dim (int): Per-modality propagation size (design). (default: 64)
        num_layers (int): Propagation layers per modality (design). (default: 1)
        fusion_hidden (list of int, optional): Fusion hidden sizes; default ``[128]`` (design)
            or ``[1024, 512, 256]`` (paper).
        fused_dim (int): Fused vector size. (default: 32)
        id_dim (int, optional): Item ID embedding size, 64 (design) or 32 (paper); the user
            embedding has ``fused_dim + id_dim``.
        meta_hidden (int, optional): Hidden size of the meta information extractor: 64 (design)
            or the size of its input (paper, as released).
        meta_bias (bool, optional): Static biases in the meta layers: yes (design), no (paper).
        init_ratio (float): Each meta layer's dynamic-to-static ratio at initialisation for
            unit-RMS meta vectors (:class:`~mmgraph.nn.MetaLinear`). (default: 0.1)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        dropout (float): Dropout between the per-modality graph layers (design). (default: 0.1)
        fusion_dropout (float, optional): Dropout between fusion layers: ``dropout`` (design)
            or 0 (paper).
        graph_dropout (list of float, optional): Dropout after each GraphSAGE layer of
            ``propagation="sage"``; default 0.5 after every layer but the last, 0.2 after it
            (the released 0.5 / 0.2).
        propagation_dims (list of int, optional): Output size of each GraphSAGE layer (the
            first release: 128 -> 128 -> 64); default: the input size for every layer.  The
            user and item vectors are their last layer's.
        normalization (str): Adjacency normalization of the design variant. (default: "gcn")
        combine (str): :class:`~mmgraph.nn.ModalityConv` combine (design). (default: "add")
        reg_weight (float, optional): Weight of the L2 penalty on the batch's ID embeddings:
            1e-4 (design) or 0 (paper).
        propagation (str, optional): Final propagation of the user and item vectors over the
            user-item graph: ``"lightgcn"`` (parameter-free smoothing; the design default),
            ``"sage"`` (GraphSAGE-mean layers; paper-gcn) or ``"none"`` (paper-mf).
        propagation_layers (int, optional): Layers of that propagation: 3 (design) or 2 (paper).
        id_dropout (float): Cold start.  An item without a learned ID embedding (a cold item of
            the graph, :attr:`RecGraph.cold`, or one beyond the ID table, e.g. appended by
            :meth:`RecGraph.with_new_items`) takes a learned default ID vector
            :math:`\mathbf{e}^{id}_0` instead and, having no interactions, no graph
            neighbours: it is scored from its features alone.  During training, in this share of
            a batch's (user, positive, negatives) triples the items are scored the same way
            (embedded alone, as :meth:`RecGraph.isolated`, against the users' usual vectors;
            DropoutNet's idea), which teaches the default vector and the feature path to rank
            unseen items; at ``0`` the default stays zero.  (default: 0.0)

    The design defaults (one layer per modality, 3 smoothing layers, 64-d item IDs) were chosen
    on the validation split of the real TikTok sample; see docs/results.md.
    """

    capabilities = Capabilities(cold_start=True, hops=lambda model: model.receptive_hops())

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        variant: Annotated[str, Spec(choices=VARIANTS)] = "design",
        fusion: Annotated[str, Spec(choices=FUSIONS)] = "meta-cp",
        meta_dim: Size = 5,
        cp_rank: Size = 16,
        hidden_dim: Size = 64,
        num_layers: Count = 1,
        fusion_hidden: Sequence[Size] | None = None,
        fused_dim: Count = 32,
        id_dim: Count | None = None,
        meta_hidden: Size | None = None,
        meta_bias: bool | None = None,
        init_ratio: Weight = 0.1,
        word_dim: Size = 64,
        dropout: Rate = 0.1,
        fusion_dropout: Rate | None = None,
        graph_dropout: Sequence[Rate] | None = None,
        propagation_dims: Sequence[Size] | None = None,
        normalization: Annotated[str, Spec(choices=NORMALIZATIONS)] = "gcn",
        combine: Annotated[str, Spec(choices=COMBINES)] = "add",
        reg_weight: Weight | None = None,
        propagation: Annotated[str, Spec(choices=PROPAGATIONS)] | None = None,
        propagation_layers: Count | None = None,
        id_dropout: Rate = 0.0,
    ):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"MetaMMF: variant must be one of {VARIANTS}, got '{variant}'")
        if fusion not in FUSIONS:
            raise ValueError(f"MetaMMF: fusion must be one of {FUSIONS}, got '{fusion}'")
        r = self.resolved_options(
            {
                "variant": variant,
                "dropout": dropout,
                "propagation": propagation,
                "propagation_layers": propagation_layers,
                "id_dim": id_dim,
                "fusion_hidden": fusion_hidden,
                "meta_hidden": meta_hidden,
                "meta_bias": meta_bias,
                "reg_weight": reg_weight,
                "fusion_dropout": fusion_dropout,
                "graph_dropout": graph_dropout,
            }
        )
        propagation, propagation_layers = r["propagation"], r["propagation_layers"]
        id_dim, fusion_hidden, meta_hidden = r["id_dim"], r["fusion_hidden"], r["meta_hidden"]
        meta_bias, reg_weight = r["meta_bias"], r["reg_weight"]
        fusion_dropout, graph_dropout = r["fusion_dropout"], r["graph_dropout"]
        if propagation not in PROPAGATIONS:
            raise ValueError(
                f"MetaMMF: propagation must be one of {PROPAGATIONS}, got '{propagation}'"
            )
        self.propagation, self.propagation_layers = propagation, propagation_layers
        sage_layers = propagation_layers if propagation == "sage" else 0
        if len(graph_dropout) != sage_layers or not all(0 <= p < 1 for p in graph_dropout):
            raise ValueError(
                f"graph_dropout={list(graph_dropout)} must give one rate in [0, 1) per "
                f"GraphSAGE layer ({sage_layers})"
            )
        self.graph_dropout = list(graph_dropout)
        self.num_users, self.num_items = num_users, num_items
        self.variant, self.fusion_kind = variant, fusion
        if not 0 <= id_dropout < 1:
            raise ValueError(f"MetaMMF: id_dropout must be in [0, 1), got {id_dropout}")
        self.dropout, self.normalization, self.reg_weight = dropout, normalization, reg_weight
        self.id_dropout = id_dropout
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="MetaMMF")
        meta_in = sum(self.input_dims.values())
        if variant == "design":
            self.encoders = ModuleDict(
                {
                    m: ModalityEncoder(
                        num_users, d, hidden_dim, num_layers, combine, dropout=dropout
                    )
                    for m, d in self.input_dims.items()
                }
            )
            fusion_in = {m: hidden_dim for m in self.input_dims}
        else:
            self.encoders = ModuleDict()
            fusion_in = dict(self.input_dims)
        if fusion == "static":
            self.fusion = StaticFusion(fusion_in, fused_dim, fusion_hidden, dropout=fusion_dropout)
        else:
            self.fusion = MetaFusion(
                fusion_in,
                fused_dim,
                fusion_hidden,
                meta_channels=meta_dim,
                meta_in_channels=meta_in,
                meta_hidden_channels=meta_hidden,
                mode=fusion.removeprefix("meta-"),
                rank=cp_rank,
                dropout=fusion_dropout,
                bias=meta_bias,
                init_ratio=init_ratio,
            )
        self.item_id = Embedding(num_items, id_dim)
        self.default_item_id = Parameter(torch.zeros(id_dim))
        self.user = Embedding(num_users, fused_dim + id_dim)
        dims = [fused_dim + id_dim]
        dims += list(propagation_dims) if propagation_dims is not None else dims * sage_layers
        if len(dims) != sage_layers + 1 or min(dims) < 1:
            raise ValueError(
                f"propagation_dims={list(propagation_dims or [])} must give one size >= 1 per "
                f"GraphSAGE layer ({sage_layers})"
            )
        self.graph_layers = ModuleList(
            [
                ModalityConv(a, b, combine="add", normalize=False)  # on the cached "mean" adjacency
                for a, b in zip(dims[:-1], dims[1:])
            ]
        )
        self.reset_parameters()

    @classmethod
    def resolved_options(cls, options: Mapping[str, object] | None = None) -> dict[str, object]:
        """The options with every variant-dependent default filled in (:data:`VARIANT_DEFAULTS`;
        ``fusion_dropout`` follows ``dropout``; ``graph_dropout`` 0.5 after every GraphSAGE
        layer but the last, 0.2 after it).  ``meta_hidden`` stays ``None`` for the paper
        variants: the extractor's input size, known only with the graph."""
        out = super().resolved_options(options)
        if out["variant"] not in VARIANTS:
            raise ValueError(f"MetaMMF: variant must be one of {VARIANTS}, got '{out['variant']}'")
        for key, value in VARIANT_DEFAULTS[out["variant"]].items():
            if out[key] is None:
                out[key] = value
        if out["fusion_dropout"] is None:
            out["fusion_dropout"] = out["dropout"]
        sage = out["propagation_layers"] if out["propagation"] == "sage" else 0
        if out["graph_dropout"] is None:
            out["graph_dropout"] = [0.5] * (sage - 1) + [0.2] if sage else []
        return out

    @classmethod
    def train_settings(cls, options: Mapping) -> dict:
        """:data:`TRAIN_DEFAULTS` of the variant ``options`` name (design by default)."""
        return TRAIN_DEFAULTS["design" if options.get("variant", "design") == "design" else "paper"]

    @property
    def input_dims(self) -> dict[str, int]:
        """Modality name -> size of its item input (bags of words: ``word_dim``)."""
        return self.inputs.dims

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the encoders moved into ``inputs`` name them ``text.*``
        for key in [k for k in state_dict if k.startswith(prefix + "text.")]:
            state_dict[prefix + "inputs." + key[len(prefix) :]] = state_dict.pop(key)
        # ... and have no default item ID (cold start): it was zero in effect
        state_dict.setdefault(prefix + "default_item_id", torch.zeros_like(self.default_item_id))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def reset_parameters(self) -> None:
        for module in (self.inputs, *self.encoders.values(), self.fusion, *self.graph_layers):
            module.reset_parameters()
        torch.nn.init.normal_(self.item_id.weight, std=0.1)
        torch.nn.init.zeros_(self.default_item_id)
        torch.nn.init.normal_(self.user.weight, std=0.1)

    def fusion_inputs(
        self, graph: RecGraph, n: int | None = None
    ) -> tuple[dict[str, Tensor], list[Tensor]]:
        """What the fusion reads for the first ``n`` items (all for ``None``): the per-modality
        representations and the meta input (the raw modality inputs, as parts)."""
        raw = self.inputs(graph)
        meta_input = list(raw.values())  # the extractor multiplies the parts: no [I, sum d] copy
        # (the paper variants' fusion still concatenates its raw inputs; the design variant's are small)
        if self.variant == "design":
            adj = graph.adjacency(self.normalization)
            reps = {
                m: self.encoders[m](x, adj, graph.user_ids, self.sparse_grads)[1]
                for m, x in raw.items()
            }
        else:
            reps = raw
        return {m: r[:n] for m, r in reps.items()}, [x[:n] for x in meta_input]

    def fuse(self, graph: RecGraph) -> tuple[Tensor, Tensor | None]:
        r"""Each item's fusion output ``[I, fused_dim]`` and meta vector :math:`\mathbf{s}_i`
        ``[I, meta_dim]`` (``None`` for the static fusion), before the final propagation."""
        # a sampled subgraph: the seeds' outputs read fused vectors only of items within the
        # final propagation's reach; the fusion skips the rest (zeros)
        n = graph.items_within(self.propagation_layers if self.propagation != "none" else 0)
        fused, meta = self.fusion(*self.fusion_inputs(graph, n), return_meta=True)
        if n < graph.num_items:
            fused = torch.cat([fused, fused.new_zeros(graph.num_items - n, fused.size(1))])
        return fused, meta

    def forward(self, graph: GraphView) -> tuple[Tensor, Tensor]:
        fused, _ = self.fuse(graph)
        item = torch.cat([fused, self.item_id_rows(graph)], dim=-1)
        user = self.rows(self.user, graph.user_ids)
        if self.propagation != "none":
            user, item = self.propagate(graph, user, item)
        return user, item

    def batch_loss(self, graph: RecGraph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        if not (self.training and self.id_dropout > 0):
            return super().batch_loss(graph, users, pos, negs)
        user_emb, item_emb = self(graph)
        pos_scores = self.score(user_emb, item_emb, users, pos)
        neg_scores = self.score(user_emb, item_emb, users.unsqueeze(1), negs)
        rows = torch.rand(users.numel(), device=users.device) < self.id_dropout
        if rows.any():  # these triples rank their items as cold items: from features alone
            items, local = torch.unique(
                torch.cat([pos[rows, None], negs[rows]], 1), return_inverse=True
            )
            cold = self(graph.isolated(items))[1]
            pos_scores = pos_scores.masked_scatter(
                rows, self.score(user_emb, cold, users[rows], local[:, 0])
            )
            neg_scores = neg_scores.masked_scatter(
                rows.unsqueeze(1).expand_as(neg_scores),
                self.score(user_emb, cold, users[rows].unsqueeze(1), local[:, 1:]),
            )
        items = torch.cat([pos, negs.flatten()])
        return bpr_loss(pos_scores, neg_scores) + self.regularization(
            graph.global_users(users), graph.global_items(items)
        )

    def item_id_rows(self, graph: RecGraph) -> Tensor:
        """The graph items' ID embeddings ``[I, id_dim]``: the learned default for cold items
        (:attr:`RecGraph.cold`, which also marks the items :meth:`RecGraph.with_new_items`
        appends beyond the table)."""
        rows = self.rows(self.item_id, graph.item_ids)
        if rows.size(0) < graph.num_items:  # appended items: no table rows (and cold)
            rows = torch.cat([rows, rows.new_zeros(graph.num_items - rows.size(0), rows.size(1))])
        if graph.cold is None:
            return rows
        return torch.where(graph.cold.unsqueeze(1), self.default_item_id.to(rows.dtype), rows)

    def propagate(self, graph: RecGraph, user: Tensor, item: Tensor) -> tuple[Tensor, Tensor]:
        """Final user-item propagation: GraphSAGE-mean layers (paper) or LightGCN smoothing."""
        x = torch.cat([user, item], dim=0)
        if self.propagation == "sage":
            adj = graph.adjacency("mean")
            for k, (conv, p) in enumerate(zip(self.graph_layers, self.graph_dropout)):
                x = conv(x, adj)
                if k < len(self.graph_layers) - 1:
                    x = F.leaky_relu(x)
                x = F.dropout(x, p, self.training)
        else:  # parameter-free, as LightGCN: mean of the layer-0 .. layer-L representations
            x = smooth(graph.adjacency("gcn"), x, self.propagation_layers)
        return x[: graph.num_users], x[graph.num_users :]

    def receptive_hops(self) -> int:
        """Hops of neighbours a forward pass reads around a node: the modality encoders' graph
        layers, then the final propagation's."""
        encoder = len(next(iter(self.encoders.values())).convs) if self.encoders else 0
        return encoder + (self.propagation_layers if self.propagation != "none" else 0)

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        return self.l2_penalty(
            self.reg_weight, self.rows(self.user, users), self.rows(self.item_id, items)
        )

    def embedding_parameters(self) -> list[Parameter]:
        return super().embedding_parameters() + [self.default_item_id]  # an ID vector, not a weight

    def meta_parameters(self) -> list[Parameter]:
        return self.fusion.meta_parameters() if isinstance(self.fusion, MetaFusion) else []

    @torch.no_grad()
    def item_diagnostics(self, graph: RecGraph) -> dict[str, Tensor]:
        """Per item: ``item_fused`` (fusion output), and with a meta fusion ``item_meta`` (the
        meta vector s_i) and ``item_dynamic_share`` ``[I, L]`` (per meta layer,
        ||h_i ΔW_i|| / ||h_i W||: how far the item's fusion departs from the shared one)."""
        inputs = self.fusion_inputs(graph)
        if not isinstance(self.fusion, MetaFusion):
            return {"item_fused": self.fusion(*inputs)}
        shares, meta, fused = self.fusion.dynamic_shares(*inputs)
        return {"item_fused": fused, "item_meta": meta, "item_dynamic_share": shares}

    def diagnostics(self, graph: RecGraph) -> dict:
        """``dynamic_share``: per meta layer, the mean over items of ||h_i ΔW_i|| / ||h_i W||;
        ``meta_std``: the standard deviation of s_i across items, averaged over its k entries.
        Both near zero mean the fusion has become static.  Empty for the static fusion."""
        items = self.item_diagnostics(graph)
        if "item_dynamic_share" not in items:
            return {}
        return {
            "dynamic_share": [round(v, 6) for v in items["item_dynamic_share"].mean(0).tolist()],
            "meta_std": round(items["item_meta"].std(0).mean().item(), 6),
        }

    def sparse_tables(self) -> list:
        return [self.user.weight, self.item_id.weight] + [
            e.user_preference.weight for e in self.encoders.values()
        ]

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, fusion={self.fusion_kind!r}, users={self.num_users}, items={self.num_items}"
