"""Fusion of per-modality item representations: MetaMMF's meta fusion and static ablations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, ModuleList
from torch_geometric.nn.dense.linear import Linear

from mmgraph.nn.meta_linear import CPMetaLinear, MetaLinear

Modalities = Mapping[str, Tensor] | Sequence[Tensor] | Tensor


class MetaInfoExtractor(Module):
    r"""The meta information extractor of MetaMMF (`arXiv 2501.07110
    <https://arxiv.org/abs/2501.07110>`_): a two-layer MLP that maps an item's meta input
    (by default its concatenated modality features, or any item side information) to its meta
    vector

    .. math::
        \mathbf{s}_i = \mathbf{W}_2\,\mathrm{ReLU}(\mathbf{W}_1 \mathbf{m}_i + \mathbf{b}_1)
        + \mathbf{b}_2 \in \mathbb{R}^k

    The meta input may be given as one tensor or as a list of parts whose concatenation it is;
    parts are multiplied by their slices of :math:`\mathbf{W}_1` and summed, so large feature
    matrices are never copied into one.

    Initialisation: He-normal :math:`\mathbf{W}_1` (variance :math:`2/d_{meta\_in}`),
    :math:`\mathbf{W}_2` with variance :math:`1/d_{hidden}`, zero biases, so that for inputs
    with unit second moment per dimension (standardized features) the meta vector starts with
    unit RMS, the scale the meta layers' ``init_ratio`` refers to.

    Args:
        in_channels (int): Size of the meta input.
        meta_channels (int): Size :math:`k` of the meta vector. (default: :obj:`5`)
        hidden_channels (int, optional): Hidden size; :obj:`None` for ``in_channels`` (the
            released code's :math:`d \to d \to k`). (default: :obj:`64`)

    Shapes:
        - **input:** :math:`(N, d_{meta\_in})` or a list of :math:`(N, d_j)` with
          :math:`\sum_j d_j = d_{meta\_in}`
        - **output:** :math:`(N, k)`
    """

    def __init__(self, in_channels: int, meta_channels: int = 5, hidden_channels: int | None = 64):
        super().__init__()
        hidden_channels = in_channels if hidden_channels is None else hidden_channels
        self.in_channels, self.meta_channels, self.hidden_channels = (
            in_channels,
            meta_channels,
            hidden_channels,
        )
        self.lin1 = Linear(in_channels, hidden_channels)
        self.lin2 = Linear(hidden_channels, meta_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.kaiming_normal_(self.lin1.weight, nonlinearity="relu")
        torch.nn.init.kaiming_normal_(self.lin2.weight, nonlinearity="linear")
        torch.nn.init.zeros_(self.lin1.bias)
        torch.nn.init.zeros_(self.lin2.bias)

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        if isinstance(x, Tensor):
            h = self.lin1(x)
        else:
            if sum(part.size(-1) for part in x) != self.in_channels:
                raise ValueError(
                    f"MetaInfoExtractor: meta input parts have {[p.size(-1) for p in x]} "
                    f"channels, expected {self.in_channels} in total"
                )
            weights = torch.split(self.lin1.weight, [part.size(-1) for part in x], dim=1)
            h = sum(F.linear(part, w) for part, w in zip(x, weights)) + self.lin1.bias
        return self.lin2(F.relu(h))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, meta_channels={self.meta_channels}, "
            f"hidden_channels={self.hidden_channels})"
        )


def _names_and_dims(in_channels: Mapping[str, int] | Sequence[int] | int):
    if isinstance(in_channels, int):
        return None, [in_channels]
    if isinstance(in_channels, Mapping):
        return list(in_channels), [int(d) for d in in_channels.values()]
    return None, [int(d) for d in in_channels]


class _FusionBase(Module):
    """Shared input handling: a dict / list of ``[N, d_m]`` modality tensors, or one tensor."""

    def __init__(
        self,
        in_channels,
        out_channels: int,
        hidden_channels: Sequence[int],
        negative_slope: float,
        dropout: float,
    ):
        super().__init__()
        self.names, self.dims = _names_and_dims(in_channels)
        self.out_channels = out_channels
        self.channels = [sum(self.dims), *hidden_channels, out_channels]
        self.negative_slope = negative_slope
        self.dropout = dropout

    def modality_list(self, xs: Modalities) -> list[Tensor]:
        if isinstance(xs, Tensor):
            xs = [xs]
        elif isinstance(xs, Mapping):
            if self.names is None:
                raise ValueError(
                    f"{type(self).__name__} was built from a list of dims; pass a list"
                )
            missing = [m for m in self.names if m not in xs]
            if missing:
                raise ValueError(f"{type(self).__name__}: missing modalities {missing}")
            xs = [xs[m] for m in self.names]
        xs = list(xs)
        if len(xs) == 1 and len(self.dims) > 1 and xs[0].size(-1) == sum(self.dims):
            return list(torch.split(xs[0], self.dims, dim=-1))  # passed already concatenated
        if [x.size(-1) for x in xs] != self.dims:
            raise ValueError(
                f"{type(self).__name__}: expected modality dims {self.dims}, got "
                f"{[x.size(-1) for x in xs]}"
            )
        return xs

    def _between(self, h: Tensor, last: bool) -> Tensor:
        if last:
            return h
        h = F.leaky_relu(h, self.negative_slope)
        return F.dropout(h, self.dropout, self.training)

    def extra_repr(self) -> str:
        names = f"{self.names}, " if self.names else ""
        return f"{names}channels={self.channels}"


class MetaFusion(_FusionBase):
    r"""The dynamic fusion operator of MetaMMF (`"Dynamic Multimodal Fusion via Meta-Learning
    Towards Micro-Video Recommendation" <https://arxiv.org/abs/2501.07110>`_): every item gets
    its own fusion network, whose weights are generated from the item's meta vector.

    .. math::
        \mathbf{s}_i &= \mathrm{MLP}_{meta}(\mathbf{m}_i) \\
        \mathbf{h}^{(0)}_i &= [\mathbf{x}^{1}_i \,\|\, \cdots \,\|\, \mathbf{x}^{M}_i] \\
        \mathbf{h}^{(l+1)}_i &= \sigma\Big(\mathbf{h}^{(l)}_i \big(\mathbf{W}^{(l)} +
        \textstyle\sum_j s_{ij}\mathbf{T}^{(l)}_j\big) + \mathbf{b}^{(l)}\Big)

    with :math:`\sigma` = LeakyReLU between layers and none after the last.  The meta input
    :math:`\mathbf{m}_i` defaults to the concatenated modality inputs.  ``mode='cp'`` uses
    :class:`CPMetaLinear` (rank-:math:`R` basis), ``mode='full'`` :class:`MetaLinear`.

    Args:
        in_channels (dict or list of int): Modality name -> dim (or a list of dims).
        out_channels (int): Size of the fused vector.
        hidden_channels (list of int): Hidden sizes of the fusion network. (default: ``[]``)
        meta_channels (int): Meta vector size :math:`k`. (default: :obj:`5`)
        meta_in_channels (int, optional): Size of the meta input when it is not the
            concatenated modalities. (default: :obj:`None`)
        meta_hidden_channels (int, optional): Hidden size of the extractor; :obj:`None` for its
            input size. (default: :obj:`64`)
        mode (str): ``"full"`` or ``"cp"``. (default: :obj:`"cp"`)
        rank (int): CP rank. (default: :obj:`16`)
        negative_slope (float): LeakyReLU slope. (default: :obj:`0.01`)
        dropout (float): Dropout between layers. (default: :obj:`0.0`)
        bias (bool): Static biases in the meta layers (the released code has none).
            (default: :obj:`True`)
        init_ratio (float): Dynamic-to-static ratio of every meta layer at initialisation, for
            unit-RMS meta vectors (see :class:`MetaLinear`). (default: :obj:`0.1`)

    Shapes:
        - **input:** modalities :math:`\{(N, d_m)\}`, meta input :math:`(N, d_{meta\_in})` or a
          list of parts of it (optional)
        - **output:** :math:`(N, d_{out})`, and meta vectors :math:`(N, k)` with
          ``return_meta=True``
    """

    def __init__(
        self,
        in_channels,
        out_channels: int,
        hidden_channels: Sequence[int] = (),
        meta_channels: int = 5,
        meta_in_channels: int | None = None,
        meta_hidden_channels: int | None = 64,
        mode: str = "cp",
        rank: int = 16,
        negative_slope: float = 0.01,
        dropout: float = 0.0,
        bias: bool = True,
        init_ratio: float = 0.1,
    ):
        super().__init__(in_channels, out_channels, hidden_channels, negative_slope, dropout)
        if mode not in ("full", "cp"):
            raise ValueError(f"MetaFusion: mode must be 'full' or 'cp', got '{mode}'")
        self.mode, self.rank, self.meta_channels = mode, rank, meta_channels
        self.extractor = MetaInfoExtractor(
            sum(self.dims) if meta_in_channels is None else meta_in_channels,
            meta_channels,
            meta_hidden_channels,
        )
        pairs = zip(self.channels[:-1], self.channels[1:])
        self.layers = ModuleList(
            [
                CPMetaLinear(a, b, meta_channels, rank, bias, init_ratio)
                if mode == "cp"
                else MetaLinear(a, b, meta_channels, bias, init_ratio)
                for a, b in pairs
            ]
        )

    def reset_parameters(self) -> None:
        self.extractor.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()

    def meta_parameters(self) -> list[Tensor]:
        """The hypernetwork: the extractor and every layer's dynamic tensors (an optimizer may
        treat them apart from the static weights, e.g. without weight decay)."""
        return [
            *self.extractor.parameters(),
            *(p for layer in self.layers for p in layer.meta_parameters()),
        ]

    def _run(self, xs: Modalities, meta_input, shares: list | None = None) -> tuple[Tensor, Tensor]:
        parts = self.modality_list(xs)
        h = torch.cat(parts, dim=-1)
        s = self.extractor(parts if meta_input is None else meta_input)
        for k, layer in enumerate(self.layers):
            static, dynamic = layer.parts(h, s)
            if shares is not None:
                shares.append(dynamic.norm(dim=-1) / static.norm(dim=-1).clamp_min(1e-12))
            h = self._between(layer.combine(static, dynamic), last=k == len(self.layers) - 1)
        return h, s

    def forward(
        self,
        xs: Modalities,
        meta_input: Tensor | Sequence[Tensor] | None = None,
        return_meta: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        h, s = self._run(xs, meta_input)
        return (h, s) if return_meta else h

    def dynamic_shares(
        self, xs: Modalities, meta_input: Tensor | Sequence[Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""How item-specific each item's fusion is: ``[N, L]`` with
        :math:`\|\mathbf{h}^{(l)}_i \Delta\mathbf{W}^{(l)}_i\| / \|\mathbf{h}^{(l)}_i \mathbf{W}^{(l)}\|`
        for every meta layer :math:`l` (0: the fusion is static for that item), the meta vectors
        ``[N, k]`` and the fusion output ``[N, d_out]`` (as :meth:`forward` gives it), in one pass.
        Same inputs as :meth:`forward`."""
        shares: list[Tensor] = []
        h, s = self._run(xs, meta_input, shares)
        return torch.stack(shares, dim=1), s, h

    def extra_repr(self) -> str:
        rank = f", rank={self.rank}" if self.mode == "cp" else ""
        return (
            f"{super().extra_repr()}, mode={self.mode!r}, meta_channels={self.meta_channels}{rank}"
        )


class StaticFusion(_FusionBase):
    r"""One fusion function for every item, with :class:`MetaFusion`'s interface, for ablations.

    .. math::
        \mathbf{h}^{(0)}_i = \mathrm{combine}(\mathbf{x}^{1}_i, \ldots, \mathbf{x}^{M}_i), \quad
        \mathbf{h}^{(l+1)}_i = \sigma(\mathbf{h}^{(l)}_i \mathbf{W}^{(l)} + \mathbf{b}^{(l)})

    where combine is concatenation (``"concat"``), or the element-wise ``"mean"`` / ``"sum"``
    of equally sized modality vectors.  With the meta terms of a :class:`MetaFusion` set to zero
    and the same :math:`\mathbf{W}, \mathbf{b}`, both give the same output.

    Args:
        in_channels (dict or list of int): Modality name -> dim (or a list of dims).
        out_channels (int): Size of the fused vector.
        hidden_channels (list of int): Hidden sizes. (default: ``[]``)
        combine (str): ``"concat"``, ``"mean"`` or ``"sum"``. (default: :obj:`"concat"`)
        negative_slope (float): LeakyReLU slope. (default: :obj:`0.01`)
        dropout (float): Dropout between layers. (default: :obj:`0.0`)

    Shapes:
        - **input:** modalities :math:`\{(N, d_m)\}` (a meta input is accepted and ignored)
        - **output:** :math:`(N, d_{out})`
    """

    def __init__(
        self,
        in_channels,
        out_channels: int,
        hidden_channels: Sequence[int] = (),
        combine: str = "concat",
        negative_slope: float = 0.01,
        dropout: float = 0.0,
    ):
        super().__init__(in_channels, out_channels, hidden_channels, negative_slope, dropout)
        if combine not in ("concat", "mean", "sum"):
            raise ValueError(
                f"StaticFusion: combine must be 'concat', 'mean' or 'sum', got '{combine}'"
            )
        if combine != "concat":
            if len(set(self.dims)) != 1:
                raise ValueError(
                    f"StaticFusion: combine='{combine}' needs equal modality dims, got {self.dims}"
                )
            self.channels[0] = self.dims[0]
        self.combine = combine
        self.layers = ModuleList(
            [
                Linear(a, b, weight_initializer="glorot", bias_initializer="zeros")
                for a, b in zip(self.channels[:-1], self.channels[1:])
            ]
        )

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(
        self, xs: Modalities, meta_input: Tensor | None = None, return_meta: bool = False
    ) -> Tensor | tuple[Tensor, None]:
        xs = self.modality_list(xs)
        if self.combine == "concat":
            h = torch.cat(xs, dim=-1)
        else:
            h = torch.stack(xs).mean(0) if self.combine == "mean" else torch.stack(xs).sum(0)
        for k, layer in enumerate(self.layers):
            h = self._between(layer(h), last=k == len(self.layers) - 1)
        return (h, None) if return_meta else h

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, combine={self.combine!r}"
