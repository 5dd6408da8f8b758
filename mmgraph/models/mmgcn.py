"""MMGCN: one graph convolution network per modality over the user-item graph.

Built as the reference implementations build it: MMRec's ``src/models/mmgcn.py`` (github
enoche/MMRec, commit e775373) and the authors' ``Model_MMGCN.py`` (github weiyinwei/MMGCN,
commit a643673); the line numbers below are those files'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, Identity, Module, ModuleDict, ModuleList
from torch_geometric.nn.dense.linear import Linear

from mmgraph.models.graph import RecGraph
from mmgraph.models.inputs import FeatureRecommender, ItemInputs
from mmgraph.models.options import Count, Size, Weight
from mmgraph.nn import spmm
from mmgraph.utils.spec import Spec

# The modality names our loaders give the references' visual features (MMGCN format: "visual";
# MMRec format: "image", from image_feat.npy).  The references build that modality's network
# with ``dim_latent=256`` (MMRec L46-47, authors L94) and regularize its user preferences
# (MMRec L94-95, authors L131); every other modality runs at its raw width (MMRec L51-52,
# authors L97 and L100).
VISUAL_MODALITIES = ("visual", "image")
REFERENCE_LATENT_DIM = 256
AGGREGATIONS = {
    "mean": "mean",
    "add": "sum",
}  # reference aggr_mode -> RecGraph.adjacency normalization


def reference_latent_dims(modalities) -> dict[str, int | None]:
    """The references' per-modality ``dim_latent``: 256 for the visual modality, ``None`` (no
    projection: the network's first layer runs at the raw feature width) for every other one.
    The rule is by modality, not by feature width: 128-d visual features are projected *up* to
    256, and 4096-d text features would be kept at 4096."""
    return {m: REFERENCE_LATENT_DIM if m in VISUAL_MODALITIES else None for m in modalities}


class FrozenTable(Module):
    """A ``[num, dim]`` table of vectors kept fixed at its initialization: a buffer (saved in the
    ``state_dict`` and moved by ``.to()``, never optimized), read as ``.weight`` like an
    :class:`~torch.nn.Embedding`."""

    def __init__(self, num: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.empty(num, dim))

    def extra_repr(self) -> str:
        return f"{self.weight.size(0)}, {self.weight.size(1)}, frozen"


def _table(num: int, dim: int, trainable: bool) -> Module:
    return Embedding(num, dim) if trainable else FrozenTable(num, dim)


class ModalityGCN(Module):
    r"""MMGCN's graph network for one modality :math:`m` (MMRec's ``GCN``, L108-188; the
    authors' ``GCN``, L10-74).  Users start from preferences :math:`\mathbf{P}^m`, items from
    their features, projected when the modality has a latent width:

    .. math::
        \mathbf{x}^{(0)} = \mathrm{L2norm}\big([\mathbf{P}^m \,;\,
        \mathbf{X}^m\mathbf{W}_p + \mathbf{b}_p]\big)
        \quad(\text{or } [\mathbf{P}^m ; \mathbf{X}^m] \text{ without a latent width})

    and every layer :math:`l` computes (paper eq. 1 and 5)

    .. math::
        \mathbf{h} &= \mathrm{LReLU}\big(\hat{\mathbf{A}}\,\mathbf{x}^{(l)}\mathbf{W}_c\big), \qquad
        \hat{\mathbf{x}} = \mathrm{LReLU}\big(\mathbf{x}^{(l)}\mathbf{W}_s + \mathbf{b}_s\big)
        + \mathbf{e}^{id} \\
        \mathbf{x}^{(l+1)} &= \mathrm{LReLU}\big([\mathbf{h} \,\|\, \hat{\mathbf{x}}]\mathbf{W}_g
        + \mathbf{b}_g\big)\ \text{(concat)} \quad\text{or}\quad
        \mathrm{LReLU}\big(\mathbf{h}\mathbf{W}_g + \mathbf{b}_g + \hat{\mathbf{x}}\big)\
        \text{(element-wise)}

    with :math:`\hat{\mathbf{A}}` the user-item adjacency (both directions, no self-loops)
    normalized for ``aggr="mean"`` (:math:`1/|\mathcal{N}(i)|`) or not (``"add"``),
    :math:`\mathrm{LReLU}` the leaky ReLU of slope 0.01 and :math:`\mathbf{e}^{id}` the ID
    embeddings of users and items (dropped with ``has_id=False``).  The first layer runs at
    width :math:`d_0` (the latent width, or the raw feature width :math:`F_m`): :math:`\mathbf{W}_c`
    is :math:`d_0 \times d_0`, :math:`\mathbf{W}_s` :math:`d_0 \times d`, :math:`\mathbf{W}_g`
    :math:`(d_0 + d) \times d` (concat) or :math:`d_0 \times d`; later layers run at :math:`d`.

    Initialization as in the references: :math:`\mathbf{P}^m`, every :math:`\mathbf{W}_c`, every
    :math:`\mathbf{W}_s` and the *first* :math:`\mathbf{W}_g` Xavier-normal; the projection, the
    later :math:`\mathbf{W}_g` and all biases PyTorch's ``nn.Linear`` default (MMRec L125-161).

    Args:
        num_users (int): Number of users :math:`U`.
        in_channels (int): Feature width :math:`F_m`.
        channels (int): Output width :math:`d` (the ID embedding size).
        num_layers (int): Layers.
        concat (bool): Concat or element-wise combine.
        latent_dim (int, optional): Project the features to this width first; ``None`` runs the
            first layer at ``in_channels``.
        train_preference (bool): :math:`\mathbf{P}^m` is a parameter (an
            :class:`~torch.nn.Embedding`) rather than a fixed buffer.

    Shapes:
        - **input:** item features :math:`(I, F_m)`, ``adj_t`` :math:`(U + I, U + I)`, ID
          embeddings :math:`(U + I, d)` or ``None``
        - **output:** :math:`(U + I, d)`
    """

    def __init__(
        self,
        num_users: int,
        in_channels: int,
        channels: int,
        num_layers: int,
        concat: bool,
        latent_dim: int | None = None,
        train_preference: bool = False,
    ):
        super().__init__()
        self.concat, self.latent_dim = concat, latent_dim
        width = latent_dim or in_channels  # d_0
        self.preference = _table(num_users, width, train_preference)
        self.project = Linear(in_channels, latent_dim) if latent_dim else Identity()
        widths = [width] + [channels] * (num_layers - 1)
        self.conv = ModuleList([Linear(w, w, bias=False) for w in widths])
        self.self_lin = ModuleList([Linear(w, channels) for w in widths])
        self.combine = ModuleList([Linear(w + channels if concat else w, channels) for w in widths])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_normal_(self.preference.weight)
        for layer in (*self.conv, *self.self_lin, *self.combine):
            layer.reset_parameters()  # nn.Linear's default: Kaiming-uniform weights, uniform biases
        if isinstance(self.project, Linear):
            self.project.reset_parameters()
        for layer in (*self.conv, *self.self_lin, self.combine[0]):
            torch.nn.init.xavier_normal_(layer.weight)

    @property
    def width(self) -> int:
        """:math:`d_0`, the first layer's width (the preference size)."""
        return self.preference.weight.size(1)

    def forward(self, features: Tensor, adj_t, ids: Tensor | None) -> Tensor:
        x = F.normalize(torch.cat([self.preference.weight, self.project(features)], dim=0))
        for conv, self_lin, combine in zip(self.conv, self.self_lin, self.combine):
            h = F.leaky_relu(spmm(adj_t, conv(x)))
            x_hat = F.leaky_relu(self_lin(x))
            if ids is not None:
                x_hat = x_hat + ids
            x = F.leaky_relu(
                combine(torch.cat([h, x_hat], dim=-1)) if self.concat else combine(h) + x_hat
            )
        return x


class MMGCN(FeatureRecommender):
    r"""MMGCN from `"MMGCN: Multi-modal Graph Convolution Network for Personalized
    Recommendation of Micro-video" <https://arxiv.org/abs/1908.06765>`_ (Wei et al., MM 2019):
    a :class:`ModalityGCN` per modality; users and items are the mean of the modalities'
    outputs, scored by a dot product:

    .. math::
        \mathbf{z} = \frac{1}{|\mathcal{M}|}\sum_{m \in \mathcal{M}} \mathrm{GCN}_m(\mathbf{X}^m),
        \qquad y_{ui} = \mathbf{z}_u^\top \mathbf{z}_i,

    trained with BPR plus

    .. math::
        \lambda\Big(\overline{(\mathbf{e}^{id}_{u})^2} + \overline{(\mathbf{e}^{id}_{i})^2}
        + \sum_{m\ \text{visual}} \overline{(\mathbf{P}^m)^2}\Big)

    where the bars are means over every element: of the batch's users' and items' (positives
    and negatives) ID rows, and of the visual modality's *whole* preference table (MMRec
    L93-96, authors L131).

    The defaults are the references' configuration (MMRec's ``MMGCN.yaml`` + ``overall.yaml``,
    which are the authors' ``main.py`` settings):

    * ``num_layers=3``: both references hard-wire three layers and ignore their ``n_layers`` /
      ``num_layer`` argument (MMRec L164-188, authors L56-74; MMRec's ``n_layers: 2`` and the
      authors' ``2`` in main.py L85 have no effect).
    * ``latent_dims``: the visual modality (``"visual"`` or ``"image"``) is projected to 256
      (``dim_latent=256``, MMRec L47, authors L94); every other modality runs its first layer at
      its raw feature width, without a projection (MMRec L51-52, authors L97/L100).  The rule is
      by modality, not by width (no "project only when wider than X"): 128-d visual features
      are projected up to 256.  Later layers run at ``embedding_dim`` (64, ``embedding_size``).
    * ``concat=True``: the references pass ``concate='False'``, a non-empty *string*, which
      ``if self.concate`` reads as true (MMRec L33/L134/L173, authors main.py L85): they
      concatenate.
    * ``aggr="mean"`` (MMRec L32, authors main.py L85), ``has_id=True`` (MMRec L34), leaky ReLU
      everywhere, L2-normalized layer-0 input (MMRec L168), modalities averaged (MMRec L74).
    * ``train_embeddings=False``: both references create the user preferences and the ID
      embeddings as plain tensors (``nn.init.xavier_normal_(torch.rand(...)).to(device)``,
      MMRec L55/L126/L139, authors L26/L36/L107), not ``nn.Parameter`` s, so the optimizer
      (built from ``model.parameters()``) never updates them: they stay at their random
      Xavier-normal values, and the regularizer, which reads only them, adds a constant.  Here
      they are buffers; ``train_embeddings=True`` makes them trained
      :class:`~torch.nn.Embedding` tables (this class's behaviour before the references were
      followed).
    * ``reg_weight=1e-5``: the authors' default (main.py L24, passed as ``reg_weight`` at L85);
      MMRec searches {0, 1e-5, ..., 0.1}.  Without trained embeddings it changes only the
      reported loss.

    Remaining differences from the references, and why:

    * MMRec ranks with ``self.result``, the output of the *last training forward*, i.e. one
      optimizer step behind the parameters it evaluates; here evaluation re-embeds with the
      current parameters (the model has no dropout, so that is the only difference).
    * Same initial distributions, not the same random draws (different construction order).
    * With :math:`k > 1` negatives (the references use one) the ID penalty averages over the
      ``B`` users and the ``B (1 + k)`` items; for :math:`k = 1` it equals the reference.
    * The data: MMRec feeds the raw feature files; mmgraph standardizes features by default
      (``data.normalize="standard"``); ``data.normalize=none`` feeds them raw.

    Args:
        num_users (int), num_items (int): Graph sizes.
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        embedding_dim (int): :math:`d`: the ID embedding size, every layer's output width and
            the width layers 2 and later run at. (default: 64)
        num_layers (int): Layers per modality. (default: 3)
        latent_dims (dict, optional): Modality -> width its features are projected to before
            the first layer; ``None`` or ``0`` (or a modality left out) for no projection, the
            first layer then runs at the raw feature width.  ``None``: the references' rule,
            :func:`reference_latent_dims` (256 for ``"visual"`` / ``"image"``, raw otherwise).
            (default: ``None``)
        concat (bool): Concat (``True``) or element-wise (``False``) combine. (default: ``True``)
        aggr (str): Neighbour aggregation, ``"mean"`` or ``"add"``. (default: ``"mean"``)
        has_id (bool): Add the ID embeddings in every layer. (default: ``True``)
        train_embeddings (bool): Train the user preferences and ID embeddings instead of keeping
            them at their initialization. (default: ``False``)
        word_dim (int): Word embedding size of bag-of-words modalities. (default: 64)
        reg_weight (float): :math:`\lambda`. (default: 1e-5)
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        *,
        embedding_dim: Size = 64,
        num_layers: Count = 3,
        latent_dims: Mapping[str, int | None] | None = None,
        concat: bool = True,
        aggr: Annotated[str, Spec(choices=AGGREGATIONS)] = "mean",
        has_id: bool = True,
        train_embeddings: bool = False,
        word_dim: Size = 64,
        reg_weight: Weight = 1e-5,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MMGCN: num_layers must be >= 1, got {num_layers}")
        if aggr not in AGGREGATIONS:
            raise ValueError(f"MMGCN: aggr must be one of {', '.join(AGGREGATIONS)}, got '{aggr}'")
        self.num_users, self.num_items, self.reg_weight = num_users, num_items, reg_weight
        self.aggr, self.train_embeddings = aggr, train_embeddings
        self.inputs = ItemInputs(modality_dims, bag_vocab, word_dim, owner="MMGCN")
        latent = self._latent_dims(latent_dims)
        self.gcns = ModuleDict(
            {
                m: ModalityGCN(
                    num_users, d, embedding_dim, num_layers, concat, latent[m], train_embeddings
                )
                for m, d in self.inputs.dims.items()
            }
        )
        self.ids = (
            _table(num_users + num_items, embedding_dim, train_embeddings) if has_id else None
        )
        self.reg_modalities = [m for m in self.gcns if m in VISUAL_MODALITIES]
        self.reset_parameters()

    def _latent_dims(self, latent_dims) -> dict[str, int | None]:
        modalities = list(self.inputs.dims)
        if latent_dims is None:
            return reference_latent_dims(modalities)
        unknown = sorted(set(latent_dims) - set(modalities))
        if unknown:
            raise ValueError(
                f"MMGCN: latent_dims names {unknown}, which are not modalities ({modalities})"
            )
        out = {m: latent_dims.get(m) or None for m in modalities}
        bad = {
            m: d
            for m, d in out.items()
            if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1)
        }
        if bad:
            raise ValueError(
                f"MMGCN: latent_dims must be positive ints (or None / 0 for no projection), got {bad}"
            )
        return out

    def reset_parameters(self) -> None:
        self.inputs.reset_parameters()
        for gcn in self.gcns.values():
            gcn.reset_parameters()
        if self.ids is not None:
            torch.nn.init.xavier_normal_(self.ids.weight)

    def forward(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        adj_t = graph.adjacency(AGGREGATIONS[self.aggr])
        ids = None if self.ids is None else self.ids.weight
        out = torch.stack(
            [self.gcns[m](x, adj_t, ids) for m, x in self.inputs(graph).items()]
        ).mean(0)
        return out[: self.num_users], out[self.num_users :]

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        terms = [self.gcns[m].preference.weight.pow(2).mean() for m in self.reg_modalities]
        if self.ids is not None:
            terms += [
                self.ids.weight[users].pow(2).mean(),
                self.ids.weight[self.num_users + items].pow(2).mean(),
            ]
        if not self.reg_weight or not terms:
            return torch.zeros((), device=users.device)
        return self.reg_weight * sum(terms)

    def extra_repr(self) -> str:
        widths = {m: gcn.width for m, gcn in self.gcns.items()}
        return (
            f"users={self.num_users}, items={self.num_items}, first-layer widths={widths}, "
            f"aggr={self.aggr}, train_embeddings={self.train_embeddings}"
        )
