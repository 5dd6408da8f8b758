"""MMGCN as the references build and run it (MMRec src/models/mmgcn.py, weiyinwei/MMGCN
Model_MMGCN.py): widths per modality and layer, three layers, the layer formula by hand, frozen
preferences / IDs, the regularizer, the initialization; tiny graphs, exact checks."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn import Embedding, Identity

from mmgraph.models import MMGCN, RecGraph, build_model, model_options
from mmgraph.models.mmgcn import FrozenTable, reference_latent_dims
from mmgraph.runs.api import resolve_config
from mmgraph.train.optim import make_optimizer

U, I = 4, 6
EDGES = torch.tensor(
    [[0, 0, 1, 2, 2, 3, 3], [0, 1, 2, 3, 4, 0, 5]]
)  # (user, item); item 5 once, user 3 twice


def graph(names=("visual", "acoustic"), widths=(5, 3), bags=False):
    torch.manual_seed(0)
    g = RecGraph(U, I, EDGES, {n: torch.randn(I, w) for n, w in zip(names, widths)})
    if bags:
        g.bags["textual"] = torch.tensor([[0, 0, 2, 3, 4, 5], [1, 4, 4, 0, 2, 3]])
        g.bag_vocab["textual"] = 5
    return g


def dense_adjacency(aggr):
    """The user-item graph over U + I nodes, both directions, without self-loops, built from the
    edge list: PyG's ``aggr="mean"`` (divide by the in-degree) or ``"add"``."""
    a = torch.zeros(U + I, U + I)
    a[EDGES[0], U + EDGES[1]] = 1.0
    a[U + EDGES[1], EDGES[0]] = 1.0
    return a / a.sum(1, keepdim=True).clamp(min=1) if aggr == "mean" else a


def lin(layer, x):
    return x @ layer.weight.t() + (0 if layer.bias is None else layer.bias)


def by_hand(model, g, aggr="mean", concat=True):
    """The reference forward (MMRec GCN.forward, L164-188) written out with explicit matrices,
    for any number of layers; the modalities averaged (MMRec L64-77)."""
    a = dense_adjacency(aggr)
    ids = None if model.ids is None else model.ids.weight
    outs = []
    for name, gcn in model.gcns.items():
        feats = g.features[name]
        feats = lin(gcn.project, feats) if gcn.latent_dim else feats
        x = F.normalize(torch.cat([gcn.preference.weight, feats]), dim=1)
        for conv, self_lin, combine in zip(gcn.conv, gcn.self_lin, gcn.combine):
            h = F.leaky_relu(a @ (x @ conv.weight.t()), 0.01)
            x_hat = F.leaky_relu(lin(self_lin, x), 0.01) + (0 if ids is None else ids)
            x = F.leaky_relu(
                lin(combine, torch.cat([h, x_hat], 1)) if concat else lin(combine, h) + x_hat, 0.01
            )
        outs.append(x)
    return sum(outs) / len(outs)


def test_defaults_are_the_reference_configuration():
    opts = model_options("mmgcn")
    assert opts["num_layers"] == 3 and opts["embedding_dim"] == 64 and opts["latent_dims"] is None
    assert opts["concat"] is True and opts["aggr"] == "mean" and opts["has_id"] is True
    assert opts["train_embeddings"] is False and opts["reg_weight"] == 1e-5


@pytest.mark.parametrize("names", [("visual", "acoustic"), ("image", "text")])
def test_widths_per_modality_and_layer_are_the_references(names):
    # MMRec L46-52 / authors L94-100: the visual network projects to dim_latent=256, every other
    # one runs its first layer at the raw feature width; layers 2 and 3 at embedding_size
    g = graph(names, (5, 3))
    m = MMGCN.from_graph(g, embedding_dim=4)
    vis, other = m.gcns[names[0]], m.gcns[names[1]]
    assert reference_latent_dims(names) == {names[0]: 256, names[1]: None}
    assert vis.preference.weight.shape == (U, 256) and other.preference.weight.shape == (U, 3)
    assert (vis.project.in_channels, vis.project.out_channels) == (5, 256) and isinstance(
        other.project, Identity
    )
    for gcn, d0 in ((vis, 256), (other, 3)):
        assert len(gcn.conv) == len(gcn.self_lin) == len(gcn.combine) == 3
        assert gcn.conv[0].weight.shape == (d0, d0) and gcn.conv[0].bias is None
        assert gcn.self_lin[0].weight.shape == (4, d0)
        assert gcn.combine[0].weight.shape == (4, d0 + 4)  # concat: [h (d0) || x_hat (4)]
        for l in (1, 2):
            assert gcn.conv[l].weight.shape == (4, 4) and gcn.self_lin[l].weight.shape == (4, 4)
            assert gcn.combine[l].weight.shape == (4, 8)
    elementwise = MMGCN.from_graph(g, embedding_dim=4, concat=False).gcns[names[0]]
    assert elementwise.combine[0].weight.shape == (4, 256) and elementwise.combine[
        1
    ].weight.shape == (4, 4)


def test_no_width_rule_visual_is_projected_up_and_wide_others_stay_raw():
    g = graph(("visual", "acoustic"), (2, 300))
    m = MMGCN.from_graph(g, embedding_dim=4)
    assert m.gcns["visual"].width == 256 and m.gcns["acoustic"].width == 300


def test_tiktok_size_parameter_count_equals_the_reference():
    # MMRec's model.parameters() for v 128-d (dim_latent 256) + second modality 128-d (raw), 64-d:
    # visual: MLP 128*256+256, conv 256*256, linear 256*64+64, g 320*64+64, 2 x (64*64 + 64*64+64 + 128*64+64)
    later = 2 * (64 * 64 + 64 * 64 + 64 + 128 * 64 + 64)
    visual = 128 * 256 + 256 + 256 * 256 + 256 * 64 + 64 + 320 * 64 + 64 + later
    acoustic = 128 * 128 + 128 * 64 + 64 + 192 * 64 + 64 + later
    m = MMGCN(9308, 6710, {"image": 128, "audio": 128})
    assert sum(p.numel() for p in m.parameters()) == visual + acoustic == 238_592
    # preferences (9308 x 256, 9308 x 128) and IDs (16018 x 64) are fixed tensors, not parameters
    assert sum(b.numel() for b in m.buffers()) == 9308 * 256 + 9308 * 128 + 16018 * 64
    trained = MMGCN(9308, 6710, {"image": 128, "audio": 128}, train_embeddings=True)
    assert sum(p.numel() for p in trained.parameters()) == 238_592 + 9308 * 384 + 16018 * 64


@pytest.mark.parametrize("num_layers", [1, 2, 3, 5])
def test_num_layers_layers_are_built_and_run(num_layers):
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4, num_layers=num_layers)
    assert all(
        len(gcn.conv) == len(gcn.self_lin) == len(gcn.combine) == num_layers
        for gcn in m.gcns.values()
    )
    user, item = m(g)
    assert user.shape == (U, 4) and item.shape == (I, 4)
    assert torch.allclose(torch.cat([user, item]), by_hand(m, g), atol=1e-6)
    with pytest.raises(ValueError, match="num_layers"):
        MMGCN.from_graph(g, num_layers=0)


@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("aggr", ["mean", "add"])
@pytest.mark.parametrize("has_id", [True, False])
def test_one_layer_equals_the_reference_formula(concat, aggr, has_id):
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4, num_layers=1, concat=concat, aggr=aggr, has_id=has_id)
    assert (m.ids is None) == (not has_id)
    user, item = m(g)
    assert torch.allclose(torch.cat([user, item]), by_hand(m, g, aggr, concat), atol=1e-6)


def test_one_layer_by_hand_node_by_node():
    """Equation 1 and 5 for one node, without matrices: a user's mean over its items."""
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4, num_layers=1, latent_dims={})
    gcn = m.gcns["acoustic"]
    x = F.normalize(torch.cat([gcn.preference.weight, g.features["acoustic"]]), dim=1)
    wc, ws, wg = gcn.conv[0].weight, gcn.self_lin[0], gcn.combine[0]
    u = 3  # items 0 and 5
    h = F.leaky_relu(((x[U + 0] + x[U + 5]) / 2) @ wc.t())
    x_hat = F.leaky_relu(x[u] @ ws.weight.t() + ws.bias) + m.ids.weight[u]
    acoustic = F.leaky_relu(torch.cat([h, x_hat]) @ wg.weight.t() + wg.bias)
    assert torch.allclose(
        m.gcns["acoustic"](g.features["acoustic"], g.adjacency("mean"), m.ids.weight)[u],
        acoustic,
        atol=1e-6,
    )


def test_three_layers_by_hand_with_elementwise_combine():
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4, concat=False)
    user, item = m(g)
    assert torch.allclose(torch.cat([user, item]), by_hand(m, g, concat=False), atol=1e-6)


def test_latent_dims_option():
    g = graph(("visual", "acoustic", "textual"), (5, 3, 7))
    m = MMGCN.from_graph(
        g, embedding_dim=4, latent_dims={"visual": 0, "acoustic": 16, "textual": None}
    )
    assert {n: gcn.width for n, gcn in m.gcns.items()} == {
        "visual": 5,
        "acoustic": 16,
        "textual": 7,
    }
    assert (
        isinstance(m.gcns["visual"].project, Identity)
        and m.gcns["acoustic"].project.out_channels == 16
    )
    left_out = MMGCN.from_graph(g, embedding_dim=4, latent_dims={"textual": 8})
    assert {n: gcn.width for n, gcn in left_out.gcns.items()} == {
        "visual": 5,
        "acoustic": 3,
        "textual": 8,
    }
    user, item = m(g)
    assert torch.allclose(torch.cat([user, item]), by_hand(m, g), atol=1e-6)
    with pytest.raises(ValueError, match="not modalities"):
        MMGCN.from_graph(g, latent_dims={"visul": 256})
    with pytest.raises(ValueError, match="positive ints"):
        MMGCN.from_graph(g, latent_dims={"visual": -3})
    assert build_model("mmgcn", g, latent_dims={"visual": 8}).gcns["visual"].width == 8
    with pytest.raises(ValueError, match="aggr"):
        MMGCN.from_graph(g, aggr="max")


def test_preferences_and_ids_are_fixed_as_in_the_references():
    # MMRec L55/L126/L139: plain tensors, outside model.parameters(): the optimizer never moves them
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4)
    tables = [m.ids] + [gcn.preference for gcn in m.gcns.values()]
    assert all(isinstance(t, FrozenTable) for t in tables)
    names = {n for n, _ in m.named_parameters()}
    assert not any("preference" in n or n.startswith("ids") for n in names)
    assert {
        "ids.weight",
        "gcns.visual.preference.weight",
        "gcns.acoustic.preference.weight",
    } <= set(m.state_dict())
    before = [t.weight.clone() for t in tables]
    conv_before = m.gcns["visual"].conv[0].weight.clone()
    opt = make_optimizer(m, resolve_config("tiktok", model="mmgcn").train)
    m.batch_loss(g, torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([[3], [4]])).backward()
    opt.step()
    assert all(torch.equal(b, t.weight) for b, t in zip(before, tables))
    assert not torch.equal(conv_before, m.gcns["visual"].conv[0].weight)
    assert m.double().ids.weight.dtype == torch.float64  # buffers follow the model


def test_train_embeddings_makes_them_trained_tables():
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4, train_embeddings=True)
    assert isinstance(m.ids, Embedding) and all(
        isinstance(gcn.preference, Embedding) for gcn in m.gcns.values()
    )
    assert set(m.parameter_groups()["embeddings"]) >= {
        m.ids.weight,
        m.gcns["visual"].preference.weight,
    }
    opt = make_optimizer(m, resolve_config("tiktok", model="mmgcn").train)
    before = m.ids.weight.clone(), m.gcns["acoustic"].preference.weight.clone()
    m.batch_loss(g, torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([[3], [4]])).backward()
    opt.step()
    assert not torch.equal(before[0], m.ids.weight) and not torch.equal(
        before[1], m.gcns["acoustic"].preference.weight
    )


@pytest.mark.parametrize("train_embeddings", [False, True])
def test_gradients_reach_every_parameter(train_embeddings):
    g = graph(bags=True)
    m = MMGCN.from_graph(g, embedding_dim=4, train_embeddings=train_embeddings)
    m.batch_loss(
        g, torch.tensor([0, 1, 3]), torch.tensor([0, 2, 5]), torch.tensor([[3], [4], [1]])
    ).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == [], missing
    assert "inputs.text.textual.embedding.weight" in dict(
        m.named_parameters()
    )  # the bag-of-words encoder
    assert m.gcns["textual"].width == 64  # word_dim, raw: not a visual modality


def test_regularization_is_the_references():
    # MMRec L84-96: users repeated per (pos, neg), items interleaved, element-wise means, plus the
    # mean square of the visual network's whole preference table
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4, reg_weight=0.3)
    users, pos, neg = torch.tensor([0, 1, 3]), torch.tensor([0, 2, 5]), torch.tensor([4, 3, 1])
    user_tensor = users.repeat_interleave(2)
    item_tensor = torch.stack((pos + U, neg + U)).t().contiguous().view(-1)
    ids = m.ids.weight
    expected = 0.3 * (
        (ids[user_tensor] ** 2 + ids[item_tensor] ** 2).mean()
        + (m.gcns["visual"].preference.weight ** 2).mean()
    )
    assert torch.allclose(
        m.regularization(users, torch.cat([pos, neg])), expected, atol=0, rtol=1e-6
    )
    # the BPR part: -mean log sigmoid(pos - neg)
    user, item = m(g)
    bpr = -torch.log(
        torch.sigmoid((user[users] * item[pos]).sum(1) - (user[users] * item[neg]).sum(1))
    ).mean()
    assert torch.allclose(m.batch_loss(g, users, pos, neg[:, None]), bpr + expected, atol=1e-6)
    assert m.regularization(users, pos).requires_grad is False  # fixed tables: a constant
    assert MMGCN.from_graph(g, reg_weight=0.0).regularization(users, pos) == 0
    no_visual = MMGCN.from_graph(
        graph(("audio", "text")), embedding_dim=4, reg_weight=1.0, has_id=False
    )
    assert no_visual.regularization(users, pos) == 0


def test_initialization_is_the_references():
    torch.manual_seed(0)
    m = MMGCN(300, 200, {"visual": 128, "acoustic": 100}, embedding_dim=64)
    vis = m.gcns["visual"]

    def xavier_normal(w, fan_in, fan_out):
        std = math.sqrt(2.0 / (fan_in + fan_out))
        # the std of Xavier-normal, and tails beyond the Glorot-uniform bound sqrt(3) * std
        return abs(w.std().item() / std - 1) < 0.05 and w.abs().max().item() > math.sqrt(3) * std

    def torch_default(layer, fan_in):
        bound = 1 / math.sqrt(fan_in)
        ok = (
            layer.weight.abs().max().item() <= bound
            and layer.weight.abs().max().item() > 0.9 * bound
        )
        return ok and (layer.bias is None or layer.bias.abs().max().item() <= bound)

    assert xavier_normal(vis.preference.weight, 300, 256) and xavier_normal(m.ids.weight, 500, 64)
    assert xavier_normal(m.gcns["acoustic"].preference.weight, 300, 100)
    assert torch_default(vis.project, 128)  # nn.Linear default (MMRec L129)
    for gcn, d0 in ((vis, 256), (m.gcns["acoustic"], 100)):
        widths = [d0, 64, 64]
        for l, w in enumerate(widths):
            assert xavier_normal(gcn.conv[l].weight, w, w) and xavier_normal(
                gcn.self_lin[l].weight, w, 64
            )
            assert gcn.self_lin[l].bias.abs().max().item() <= 1 / math.sqrt(w)
        assert xavier_normal(gcn.combine[0].weight, d0 + 64, 64)  # g_layer1: Xavier-normal (L136)
        for l in (1, 2):  # g_layer2 / g_layer3: no re-initialization in the reference (L154, L161)
            assert torch_default(gcn.combine[l], 128)


def test_reset_parameters_redraws_and_keeps_fixed_tables_buffers():
    g = graph()
    m = MMGCN.from_graph(g, embedding_dim=4)
    before = m.ids.weight.clone()
    m.reset_parameters()
    assert not torch.equal(before, m.ids.weight) and isinstance(m.ids, FrozenTable)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step():
    g = graph().to("cuda")
    m = MMGCN.from_graph(g, embedding_dim=4).cuda()
    loss = m.batch_loss(
        g,
        torch.tensor([0, 1], device="cuda"),
        torch.tensor([0, 2], device="cuda"),
        torch.tensor([[3], [4]], device="cuda"),
    )
    loss.backward()
    assert loss.device.type == "cuda" and m.ids.weight.device.type == "cuda"
