"""The paper's configurations build the released MetaMMF, and its forward is the paper's equations.

The reference forward below is written from the paper's formulas (meta information extractor,
item-specific meta layers W_i = W + sum_j s_ij T_j with T in CP form, LeakyReLU between them,
[fused || item ID], GraphSAGE-mean layers, dot product), not from any implementation; the
model's weights are copied into it.
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import MetaMMF, RecGraph
from mmgraph.nn import CPMetaLinear, MetaLinear
from mmgraph.runs.api import resolve_config
from mmgraph.runs.context import Experiment
from mmgraph.train.optim import make_optimizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# 3000 (user, positive, negative) triples per step = 600 positives x 5 negatives
RELEASED_TRAINING = {
    "lr": 1e-3,
    "batch_size": 600,
    "num_negatives": 5,
    "negatives": "all",
    "epochs": 60,
    "mask_valid_at_test": False,
    "select": "last",
}


def build(name: str) -> Experiment:
    # the SYNTHETIC MovieLens stand-in has the paper's dims: visual 2048, acoustic 128, textual 100
    return Experiment.build(
        resolve_config(
            "movielens",
            config_file=CONFIGS / name,
            **{"data.synthetic": True, "data.scale": 0.02, "train.device": "cpu"},
        )
    )


def fusion_channels(model: MetaMMF) -> list[int]:
    return [model.fusion.layers[0].in_channels] + [
        layer.out_channels for layer in model.fusion.layers
    ]


def check_released_training(exp: Experiment) -> None:
    cfg = exp.config.train
    assert {k: getattr(cfg, k) for k in RELEASED_TRAINING} == RELEASED_TRAINING
    # one Adam setting for every parameter: lr 1e-3, weight decay 1e-6
    groups = make_optimizer(exp.model, cfg).param_groups
    assert {(g["lr"], g["weight_decay"]) for g in groups} == {(1e-3, 1e-6)}
    assert sum(len(g["params"]) for g in groups) == len(list(exp.model.parameters()))
    assert exp.model.reg_weight == 0  # no explicit L2
    assert exp.config.data.normalize == "none"


def check_released_fusion(model: MetaMMF, d: int, full: bool = False) -> None:
    """The extractor d -> d -> 5 and bias-free meta layers: rank-16 CP, or (``full``, the first
    release's MetaLayer) full meta tensors."""
    extractor = model.fusion.extractor
    assert (
        extractor.lin1.in_channels,
        extractor.lin1.out_channels,
        extractor.lin2.out_channels,
    ) == (d, d, 5)
    kind = (
        (lambda layer: isinstance(layer, MetaLinear))
        if full
        else (lambda layer: isinstance(layer, CPMetaLinear) and layer.rank == 16)
    )
    assert all(kind(layer) and layer.lin.bias is None for layer in model.fusion.layers)
    assert model.fusion.dropout == 0


@pytest.mark.parametrize(
    "name, variant",
    [("metammf_paper_gcn.toml", "paper-gcn"), ("metammf_paper_mf.toml", "paper-mf")],
)
def test_paper_configs_build_the_released_model(name, variant):
    exp = build(name)
    model = exp.model
    assert model.variant == variant and model.fusion_kind == "meta-cp"
    assert sum(model.input_dims.values()) == 2276
    assert fusion_channels(model) == [2276, 1024, 512, 256, 32]
    check_released_fusion(model, 2276)
    assert model.item_id.embedding_dim == 32 and model.user.embedding_dim == 64
    if variant == "paper-gcn":
        assert model.propagation == "sage" and model.graph_dropout == [0.5, 0.2]
        assert [
            (c.lin_neigh.in_channels, c.lin_neigh.out_channels) for c in model.graph_layers
        ] == [(64, 64)] * 2
    else:
        assert model.propagation == "none" and len(model.graph_layers) == 0
    check_released_training(exp)


def test_first_release_config_builds_the_pca_model():
    exp = build("metammf_first_release.toml")
    model = exp.model
    assert {m: x.size(1) for m, x in exp.graph.features.items()} == {
        "visual": 64,
        "acoustic": 64,
        "textual": 32,
    }
    assert fusion_channels(model) == [160, 160, 64] and model.fusion_kind == "meta-full"
    check_released_fusion(model, 160, full=True)
    assert model.item_id.embedding_dim == 64 and model.user.embedding_dim == 128
    assert [(c.lin_neigh.in_channels, c.lin_neigh.out_channels) for c in model.graph_layers] == [
        (128, 128),
        (128, 64),
    ]
    assert model.graph_dropout == [0.5, 0.2]
    check_released_training(exp)


def tiny_graph() -> RecGraph:
    torch.manual_seed(0)
    edges = torch.tensor([[0, 0, 1, 2, 2, 3], [0, 1, 2, 3, 4, 1]])
    return RecGraph(
        4,
        5,
        edges,
        {"visual": torch.randn(5, 6), "acoustic": torch.randn(5, 3), "textual": torch.randn(5, 2)},
    )


def reference_embed(model: MetaMMF, g: RecGraph) -> tuple[torch.Tensor, torch.Tensor]:
    """MetaMMF_GCN / _MF from the paper's equations, with the model's weights."""
    w = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x = torch.cat([g.features[m] for m in ("visual", "acoustic", "textual")], dim=1)
    # meta information extractor: s_i = W2 ReLU(W1 x_i + b1) + b2
    s = F.relu(x @ w["fusion.extractor.lin1.weight"].t() + w["fusion.extractor.lin1.bias"])
    s = s @ w["fusion.extractor.lin2.weight"].t() + w["fusion.extractor.lin2.bias"]
    h = x
    layers = len(model.fusion.layers)
    for n in range(layers):
        A, B, C = (w[f"fusion.layers.{n}.factor_{f}"] for f in ("in", "out", "meta"))
        T = torch.einsum("ar,rj,ro->jao", A, C, B)  # the k basis matrices T_j of the CP tensor
        W_i = w[f"fusion.layers.{n}.lin.weight"].t() + torch.einsum("nj,jao->nao", s, T)  # per item
        h = torch.einsum("na,nao->no", h, W_i)  # no bias in the released meta layers
        if n < layers - 1:
            h = F.leaky_relu(h, 0.01)
    item = torch.cat([h, w["item_id.weight"]], dim=1)
    user = w["user.weight"]
    if model.propagation == "none":
        return user, item
    # GraphSAGE-mean on the undirected user-item graph: W_n mean_{v in N(u)} x_v + b_n + W_s x_u
    U = g.num_users
    adj = torch.zeros(U + g.num_items, U + g.num_items)
    adj[g.edge_index[0], U + g.edge_index[1]] = 1
    adj[U + g.edge_index[1], g.edge_index[0]] = 1
    mean = adj / adj.sum(1, keepdim=True).clamp_min(1)
    z = torch.cat([user, item])
    for n in range(len(model.graph_layers)):
        z = (
            (mean @ z) @ w[f"graph_layers.{n}.lin_neigh.weight"].t()
            + w[f"graph_layers.{n}.lin_neigh.bias"]
            + z @ w[f"graph_layers.{n}.lin_self.weight"].t()
        )
        if n < len(model.graph_layers) - 1:
            z = F.leaky_relu(z, 0.01)
    return z[:U], z[U:]


@pytest.mark.parametrize("variant", ["paper-gcn", "paper-mf"])
def test_released_model_is_the_papers_equations(variant):
    g = tiny_graph()
    model = MetaMMF.from_graph(
        g, variant=variant, fusion_hidden=[7, 4], fused_dim=3, id_dim=2, cp_rank=3
    )
    with torch.no_grad():  # no parameter left at a special value (zero biases would hide a bias)
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.eval()  # dropout off: the equations are the inference-time forward
    with torch.no_grad():
        user, item = model(g)
        ref_user, ref_item = reference_embed(model, g)
    assert torch.allclose(user, ref_user, atol=1e-5) and torch.allclose(item, ref_item, atol=1e-5)
    scores = model.full_scores(user, item, torch.arange(4))
    assert torch.allclose(scores, ref_user @ ref_item.t(), atol=1e-5)  # y_ui = e_u . e_i


def test_released_dropout_sits_after_the_graph_layers_only(monkeypatch):
    g = tiny_graph()
    model = MetaMMF.from_graph(g, variant="paper-gcn", fusion_hidden=[7, 4], fused_dim=3, id_dim=2)
    rates = []
    original = F.dropout

    def spy(x, p=0.5, training=True, inplace=False):
        rates.append(p)
        return original(x, p, training, inplace)

    monkeypatch.setattr(F, "dropout", spy)
    model.train()
    model(g)
    # the fusion's two hidden layers take none (p = 0), the two GraphSAGE layers 0.5 then 0.2
    assert [p for p in rates if p > 0] == [0.5, 0.2]
