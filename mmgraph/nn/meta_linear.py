"""Item-specific linear maps whose weights a hypernetwork derives from meta vectors."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, Parameter
from torch_geometric.nn.dense.linear import Linear


def _check(x: Tensor, meta: Tensor, in_channels: int, meta_channels: int, name: str) -> None:
    if x.dim() != 2 or meta.dim() != 2 or x.size(0) != meta.size(0):
        raise ValueError(
            f"{name}: expected x [N, {in_channels}] and meta [N, {meta_channels}], "
            f"got {tuple(x.shape)} and {tuple(meta.shape)}"
        )
    if meta.size(1) != meta_channels:
        raise ValueError(f"{name}: meta has {meta.size(1)} channels, expected {meta_channels}")


class _MetaLayer(Module):
    """What both meta layers share: the static map (glorot, optional bias), the split of the
    output into static and dynamic parts, and the initialisation contract.

    ``init_ratio`` :math:`\\rho`: the dynamic term is initialised so that, for inputs with
    independent entries and meta vectors of unit RMS (:math:`\\mathbb{E}\\,s_{ij}^2 = 1`, what
    :class:`~mmgraph.nn.MetaInfoExtractor` emits at initialisation for standardized inputs),
    :math:`\\mathbb{E}\\|\\mathbf{h}_i\\Delta\\mathbf{W}_i\\|^2 = \\rho^2\\,\\mathbb{E}\\|\\mathbf{h}_i
    \\mathbf{W}\\|^2`: every item starts from the shared fusion plus a small item-specific part.
    """

    def __init__(
        self, in_channels: int, out_channels: int, meta_channels: int, bias: bool, init_ratio: float
    ):
        super().__init__()
        if not (math.isfinite(init_ratio) and init_ratio >= 0):
            raise ValueError(
                f"{type(self).__name__}: init_ratio must be a finite number >= 0, got {init_ratio}"
            )
        self.in_channels, self.out_channels, self.meta_channels = (
            in_channels,
            out_channels,
            meta_channels,
        )
        self.init_ratio = init_ratio
        self.lin = Linear(
            in_channels,
            out_channels,
            bias=bias,
            weight_initializer="glorot",
            bias_initializer="zeros",
        )

    @property
    def static_std(self) -> float:
        """Standard deviation of the glorot-uniform static weights."""
        return math.sqrt(2.0 / (self.in_channels + self.out_channels))

    def meta_parameters(self) -> list[Parameter]:
        """The tensors of the dynamic term (the hypernetwork's share of this layer)."""
        raise NotImplementedError

    def dynamic(self, x: Tensor, meta: Tensor) -> Tensor:
        """The item-specific term :math:`\\mathbf{h}_i \\Delta\\mathbf{W}_i` ``[N, d_out]``."""
        raise NotImplementedError

    def parts(self, x: Tensor, meta: Tensor) -> tuple[Tensor, Tensor]:
        """``(h W, h ΔW_i)``, the static term (without bias) and the dynamic term; the layer's
        output is :meth:`combine` of them."""
        _check(x, meta, self.in_channels, self.meta_channels, type(self).__name__)
        return F.linear(x, self.lin.weight), self.dynamic(x, meta)

    def combine(self, static: Tensor, dynamic: Tensor) -> Tensor:
        """The layer's output from its :meth:`parts`: their sum plus the bias."""
        out = static + dynamic
        return (
            out if self.lin.bias is None else out + self.lin.bias.to(out.dtype)
        )  # (autocast: stay bf16)

    def forward(self, x: Tensor, meta: Tensor) -> Tensor:
        return self.combine(*self.parts(x, meta))


class MetaLinear(_MetaLayer):
    r"""The meta layer of `"Dynamic Multimodal Fusion via Meta-Learning Towards Micro-Video
    Recommendation" <https://arxiv.org/abs/2501.07110>`_ (MetaMMF, ACM TOIS), full form.

    Every row :math:`i` gets its own weight matrix, a static part plus a combination of
    :math:`k` basis matrices weighted by its meta vector :math:`\mathbf{s}_i \in \mathbb{R}^k`:

    .. math::
        \mathbf{y}_i = \mathbf{h}_i \Big(\mathbf{W} + \sum_{j=1}^{k} s_{ij}
        \mathbf{T}_j\Big) + \mathbf{b}

    computed as :math:`\mathbf{h}\mathbf{W} + \mathrm{einsum}(nk,nko \to no;\ \mathbf{s},
    (\mathbf{h}\,\mathbf{T}_{[d_{in}, k d_{out}]})_{[N,k,d_{out}]})`, so the per-item weights
    :math:`[N, d_{in}, d_{out}]` are never formed: memory is :math:`O(N k d_{out})`, not
    :math:`O(N d_{in} d_{out})`.

    Initialisation: :math:`\mathbf{W}` glorot, :math:`\mathbf{T}` normal with standard deviation
    :math:`\rho\,\sigma_W / \sqrt{k}`, so that for unit-RMS meta vectors the dynamic term starts
    at :math:`\rho` (``init_ratio``) times the static one (a test pins it).

    Args:
        in_channels (int): Size :math:`d_{in}` of each input row.
        out_channels (int): Size :math:`d_{out}` of each output row.
        meta_channels (int): Size :math:`k` of the meta vectors.
        bias (bool, optional): Learn the static bias :math:`\mathbf{b}`. (default: :obj:`True`)
        init_ratio (float, optional): :math:`\rho`, the dynamic-to-static ratio at
            initialisation. (default: :obj:`0.1`)

    Shapes:
        - **input:** rows :math:`(N, d_{in})`, meta vectors :math:`(N, k)`
        - **output:** :math:`(N, d_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        meta_channels: int,
        bias: bool = True,
        init_ratio: float = 0.1,
    ):
        super().__init__(in_channels, out_channels, meta_channels, bias, init_ratio)
        # T stored as [d_in, k * d_out]: one GEMM computes h T_j for every j.
        self.meta_weight = Parameter(torch.empty(in_channels, meta_channels * out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        std = self.init_ratio * self.static_std / math.sqrt(self.meta_channels)
        torch.nn.init.normal_(self.meta_weight, std=std)

    def meta_parameters(self) -> list[Parameter]:
        return [self.meta_weight]

    def item_weights(self, meta: Tensor) -> Tensor:
        """The explicit per-item weights :math:`[N, d_{in}, d_{out}]` (for tests and analysis only)."""
        T = self.meta_weight.view(self.in_channels, self.meta_channels, self.out_channels)
        return self.lin.weight.t().unsqueeze(0) + torch.einsum("nk,iko->nio", meta, T)

    def dynamic(self, x: Tensor, meta: Tensor) -> Tensor:
        basis = (x @ self.meta_weight).view(-1, self.meta_channels, self.out_channels)
        return torch.bmm(meta.unsqueeze(1), basis).squeeze(1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"meta_channels={self.meta_channels})"
        )


class CPMetaLinear(_MetaLayer):
    r"""The MetaMMF meta layer with the basis tensor in rank-:math:`R` CP form
    (`"Dynamic Multimodal Fusion via Meta-Learning Towards Micro-Video Recommendation"
    <https://arxiv.org/abs/2501.07110>`_).

    The basis tensor :math:`\mathcal{T} \in \mathbb{R}^{d_{in} \times k \times d_{out}}` is the
    CP decomposition :math:`\mathcal{T}_{a j o} = \sum_{r} A_{ar} C_{rj} B_{ro}`, so

    .. math::
        \mathbf{y}_i = \mathbf{h}_i \big(\mathbf{W} + \mathbf{A}\,
        \mathrm{diag}(\mathbf{C}\mathbf{s}_i)\,\mathbf{B}\big) + \mathbf{b}
        = \mathbf{h}_i\mathbf{W} + \big((\mathbf{h}_i\mathbf{A}) \odot
        (\mathbf{s}_i\mathbf{C}^{\top})\big)\mathbf{B} + \mathbf{b}

    Parameters and FLOPs of the meta term grow with :math:`R(d_{in} + d_{out} + k)`, not with
    :math:`d_{in} k d_{out}`.  (The authors' released "CP" layer collapses the meta term to one
    scalar per item times a fixed matrix, i.e. rank one in the meta mode; this is the true CP
    form.)

    Initialisation: :math:`\mathbf{W}` glorot; :math:`\mathbf{A}`, :math:`\mathbf{C}` normal with
    variances :math:`1/d_{in}` and :math:`1/k` (unit-scale codes :math:`\mathbf{h}\mathbf{A}`,
    :math:`\mathbf{C}\mathbf{s}`), and :math:`\mathbf{B}` normal with standard deviation
    :math:`\rho\,\sigma_W\sqrt{d_{in}/R}`, so that for unit-RMS meta vectors the dynamic term
    starts at :math:`\rho` (``init_ratio``) times the static one (a test pins it).

    Args:
        in_channels (int): Size :math:`d_{in}` of each input row.
        out_channels (int): Size :math:`d_{out}` of each output row.
        meta_channels (int): Size :math:`k` of the meta vectors.
        rank (int): CP rank :math:`R`. (default: :obj:`16`)
        bias (bool, optional): Learn the static bias :math:`\mathbf{b}`. (default: :obj:`True`)
        init_ratio (float, optional): :math:`\rho`, the dynamic-to-static ratio at
            initialisation. (default: :obj:`0.1`)

    Shapes:
        - **input:** rows :math:`(N, d_{in})`, meta vectors :math:`(N, k)`
        - **output:** :math:`(N, d_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        meta_channels: int,
        rank: int = 16,
        bias: bool = True,
        init_ratio: float = 0.1,
    ):
        if rank < 1:
            raise ValueError(f"CPMetaLinear: rank must be >= 1, got {rank}")
        super().__init__(in_channels, out_channels, meta_channels, bias, init_ratio)
        self.rank = rank
        self.factor_in = Parameter(torch.empty(in_channels, rank))  # A
        self.factor_out = Parameter(torch.empty(rank, out_channels))  # B
        self.factor_meta = Parameter(torch.empty(rank, meta_channels))  # C
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        torch.nn.init.normal_(self.factor_in, std=self.in_channels**-0.5)
        torch.nn.init.normal_(self.factor_meta, std=self.meta_channels**-0.5)
        torch.nn.init.normal_(
            self.factor_out,
            std=self.init_ratio * self.static_std * math.sqrt(self.in_channels / self.rank),
        )

    def meta_parameters(self) -> list[Parameter]:
        return [self.factor_in, self.factor_out, self.factor_meta]

    def basis(self) -> Tensor:
        """The full basis tensor :math:`\\mathcal{T}` as ``[d_in, k, d_out]`` (small layers only)."""
        return torch.einsum("ar,rj,ro->ajo", self.factor_in, self.factor_meta, self.factor_out)

    def item_weights(self, meta: Tensor) -> Tensor:
        """The explicit per-item weights :math:`[N, d_{in}, d_{out}]` (for tests and analysis only)."""
        return self.lin.weight.t().unsqueeze(0) + torch.einsum("nk,iko->nio", meta, self.basis())

    def dynamic(self, x: Tensor, meta: Tensor) -> Tensor:
        return ((x @ self.factor_in) * (meta @ self.factor_meta.t())) @ self.factor_out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"meta_channels={self.meta_channels}, rank={self.rank})"
        )
