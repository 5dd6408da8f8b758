"""The baselines: exact equivalences on tiny graphs, trainable parts, and a run through the CLI."""

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import (
    BM3,
    BPRMF,
    FREEDOM,
    GRCN,
    LATTICE,
    MMGCN,
    MODELS,
    VBPR,
    LGMRec,
    LightGCN,
    RecGraph,
    build_model,
)
from mmgraph.nn import cosine_knn, knn_propagate, knn_weights
from mmgraph.runs.api import resolve_config, train_run
from mmgraph.train.optim import make_optimizer

FEATURE_MODELS = {
    "vbpr": VBPR,
    "mmgcn": MMGCN,
    "grcn": GRCN,
    "lattice": LATTICE,
    "freedom": FREEDOM,
    "bm3": BM3,
    "lgmrec": LGMRec,
}


def tiny_graph(bags=False):
    """3 users, 5 items; visual 5-d, acoustic 2-d, optionally textual as (item, word) pairs."""
    torch.manual_seed(0)
    g = RecGraph(
        3,
        5,
        torch.tensor([[0, 0, 1, 2, 2], [0, 1, 2, 3, 4]]),
        {"visual": torch.randn(5, 5), "acoustic": torch.randn(5, 2)},
    )
    if bags:
        g.bags["textual"] = torch.tensor([[0, 0, 2, 3, 4], [1, 4, 4, 0, 2]])
        g.bag_vocab["textual"] = 5
    return g


def dense_knn(x, k):
    sim = F.normalize(x, dim=1) @ F.normalize(x, dim=1).t()
    return sim.topk(k, dim=1)


@pytest.mark.parametrize("block_size", [1, 3, 64])
def test_cosine_knn_matches_dense_topk_in_any_block_size(block_size):
    x = torch.randn(50, 7)
    index, sim = cosine_knn(x, 4, block_size=block_size)
    ref_sim, ref_index = dense_knn(x, 4)
    assert torch.allclose(sim, ref_sim, atol=1e-6) and torch.equal(index, ref_index)
    assert torch.equal(index[:, 0], torch.arange(50))  # itself first


def test_cosine_knn_of_sparse_counts_equals_dense():
    counts = torch.poisson(torch.rand(30, 12))
    counts[3] = 0  # an item without words
    index, sim = cosine_knn(counts.to_sparse(), 3, block_size=7)
    ref_sim, _ = dense_knn(counts, 3)
    assert torch.allclose(sim, ref_sim, atol=1e-6)
    with pytest.raises(ValueError, match="k must be"):
        cosine_knn(counts, 31)


def test_knn_weights_are_the_normalized_laplacian_and_propagate_as_a_matmul():
    index, sim = cosine_knn(torch.randn(9, 4), 3)
    a = torch.zeros(9, 9).scatter_(1, index, sim.clamp(min=0))
    d = a.sum(1).rsqrt()
    dense = d[:, None] * a * d[None, :]
    w = knn_weights(index, sim)
    assert torch.allclose(torch.zeros(9, 9).scatter_(1, index, w), dense, atol=1e-6)
    h = torch.randn(9, 5)
    assert torch.allclose(knn_propagate(h, index, w), dense @ h, atol=1e-6)


def lightgcn(g, user, item, layers=2):
    x = torch.cat([user, item])
    adj = g.adjacency("gcn").to_dense()
    out, h = x.clone(), x
    for _ in range(layers):
        h = adj @ h
        out = out + h
    return out / (layers + 1)


def test_bprmf_is_lightgcn_without_layers():
    g = tiny_graph()
    torch.manual_seed(1)
    mf = BPRMF.from_graph(g, embedding_dim=4)
    user, item = mf(g)
    assert torch.equal(torch.cat([user, item]), mf.embedding.weight)
    lightgcn = LightGCN.from_graph(g, embedding_dim=4, num_layers=0)
    lightgcn.load_state_dict(mf.state_dict())
    assert torch.equal(lightgcn(g)[1], item)


def test_lightgcn_and_bprmf_train_as_mmrec_does():
    """xavier initialization per table, and MMRec's EmbLoss: reg * (||U||_F + ||P||_F + ||N||_F) / B."""
    g = tiny_graph()
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=2, reg_weight=0.5)
    users, items = model.embedding.weight.detach().split([g.num_users, g.num_items])
    assert (
        users.abs().max() <= (6 / (g.num_users + 4)) ** 0.5
        and items.abs().max() <= (6 / (g.num_items + 4)) ** 0.5
    )
    u, p, n = torch.tensor([0, 1, 1]), torch.tensor([0, 2, 3]), torch.tensor([4, 1, 0])
    expected = 0.5 * (users[u].norm() + items[p].norm() + items[n].norm()) / 3
    assert torch.allclose(model.regularization(u, torch.cat([p, n])), expected)
    loss = model.batch_loss(g, u, p, n.unsqueeze(1))
    user_emb, item_emb = model(g)
    bpr = -F.logsigmoid(
        (user_emb[u] * item_emb[p]).sum(-1) - (user_emb[u] * item_emb[n]).sum(-1)
    ).mean()
    assert torch.allclose(loss, bpr + expected)


def test_vbpr_scores_follow_the_paper():
    g = tiny_graph()
    m = VBPR.from_graph(g, embedding_dim=3)
    torch.nn.init.normal_(m.item_bias.weight)
    user, item = m(g)
    f = torch.cat([g.features["visual"], g.features["acoustic"]], 1)
    gamma_u, theta_u = m.user.weight[:, :3], m.user.weight[:, 3:]
    expected = (
        m.item_bias.weight.t()
        + gamma_u @ m.item.weight.t()
        + theta_u @ (f @ m.content.weight.t()).t()
        + (f @ m.content_bias.weight.t()).t()
    )
    assert torch.allclose(m.full_scores(user, item, torch.arange(3)), expected, atol=1e-6)


@pytest.mark.parametrize("concat", [True, False])
def test_mmgcn_layer_by_hand(concat):
    g = tiny_graph()
    m = MMGCN.from_graph(g, embedding_dim=4, num_layers=1, concat=concat)
    adj = g.adjacency("mean").to_dense()
    outs = []
    for name, gcn in m.gcns.items():
        x = F.normalize(torch.cat([gcn.preference.weight, gcn.project(g.features[name])]))
        h = F.leaky_relu(adj @ gcn.conv[0](x))
        x_hat = F.leaky_relu(gcn.self_lin[0](x)) + m.ids.weight
        outs.append(
            F.leaky_relu(
                gcn.combine[0](torch.cat([h, x_hat], 1)) if concat else gcn.combine[0](h) + x_hat
            )
        )
    user, item = m(g)
    assert torch.allclose(torch.cat([user, item]), torch.stack(outs).mean(0), atol=1e-6)
    assert m.gcns["visual"].combine[0].in_channels == (256 + 4 if concat else 256)


def test_mmgcn_builds_the_configured_layers_and_trains_preferences_and_ids():
    g = tiny_graph()
    m = MMGCN.from_graph(g, embedding_dim=4, num_layers=3, train_embeddings=True)
    assert all(len(gcn.conv) == 3 for gcn in m.gcns.values())
    names = {n for n, p in m.named_parameters()}
    assert {"ids.weight", "gcns.visual.preference.weight"} <= names
    opt = make_optimizer(m, resolve_config("kwai", model="mmgcn").train)
    before = m.gcns["visual"].preference.weight.clone(), m.ids.weight.clone()
    m.batch_loss(g, torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([[3], [4]])).backward()
    opt.step()
    assert not torch.equal(before[0], m.gcns["visual"].preference.weight)
    assert not torch.equal(before[1], m.ids.weight)


def test_lattice_item_graph_mixes_learned_and_raw_knn_graphs():
    g = tiny_graph()
    m = LATTICE.from_graph(g, embedding_dim=4, feature_dim=3, knn_k=2, lambda_coeff=1.0)
    m.eval()
    h = torch.zeros(5, 4)
    for name in ("visual", "acoustic"):  # lambda 1: only the raw graphs, half weight each
        index, sim = dense_knn(g.features[name], 2)[::-1]
        h += 0.5 * knn_propagate(m.item.weight, index, knn_weights(index, sim))
    a = g.adjacency("sum").to_dense() + torch.eye(8)  # MMRec's LATTICE smooths over D^-1 (A + I)
    a = a / a.sum(1, keepdim=True)
    x = torch.cat([m.user.weight, m.item.weight])
    smoothed = (x + a @ x + a @ a @ x) / 3
    user, item = m(g)
    assert torch.allclose(item, smoothed[3:] + F.normalize(h, dim=1), atol=1e-6)


def test_lattice_learned_graph_is_fixed_within_an_epoch_and_trains_the_transforms():
    g = tiny_graph()
    m = LATTICE.from_graph(g, knn_k=2, lambda_coeff=0.5)
    m.train()
    m.start_epoch(g, torch.Generator())
    m.batch_loss(g, torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([[3], [4]])).backward()
    assert m.transforms["visual"].weight.grad.abs().sum() > 0 and m.modal_weight.grad is not None
    first = dict(m._neighbours)
    with torch.no_grad():
        m.transforms["visual"].weight.mul_(-1.0).add_(
            torch.randn_like(m.transforms["visual"].weight)
        )
    m(g)
    assert all(
        torch.equal(first[k], m._neighbours[k]) for k in first
    )  # same epoch: same neighbours
    m.start_epoch(g, torch.Generator())
    assert m._neighbours == {}


def test_freedom_prunes_edges_by_degree_during_training_only():
    g = RecGraph(
        4,
        6,
        torch.tensor([[0, 0, 0, 1, 1, 2, 3, 3], [0, 1, 2, 0, 3, 4, 5, 1]]),
        {"visual": torch.randn(6, 3), "textual": torch.randn(6, 4)},
    )
    m = FREEDOM.from_graph(
        g, embedding_dim=4, knn_k=2, edge_dropout=0.5, modality_weights=[0.1, 0.9]
    )
    m.train()
    m.start_epoch(g, torch.Generator().manual_seed(0))
    assert m._pruned._nnz() == 2 * 4  # half the 8 interactions, both directions
    m.eval()
    user, item = m(g)
    h = sum(
        w
        * knn_propagate(
            m.item.weight,
            g.item_knn(name, 2)[0],
            knn_weights(g.item_knn(name, 2)[0], torch.ones(6, 2)),
        )
        for name, w in (("visual", 0.1), ("textual", 0.9))
    )
    full = lightgcn(g, m.user.weight, m.item.weight)
    assert torch.allclose(item, full[4:] + h, atol=1e-6) and torch.allclose(
        user, full[:4], atol=1e-6
    )
    with pytest.raises(ValueError, match="one weight per modality"):
        FREEDOM.from_graph(g, modality_weights=[1.0])


def test_freedom_modality_loss_adds_a_bpr_term_per_modality():
    g = tiny_graph()
    users, pos, negs = torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([[3], [4]])
    torch.manual_seed(0)
    plain = FREEDOM.from_graph(g, modality_loss_weight=0.0).eval()
    torch.manual_seed(0)
    extra = FREEDOM.from_graph(g, modality_loss_weight=1.0).eval()
    user, _ = extra(g)
    terms = sum(
        extra.bpr(user, extra.transforms[m](x), users, pos, negs) for m, x in g.features.items()
    )
    assert torch.allclose(
        extra.batch_loss(g, users, pos, negs), plain.batch_loss(g, users, pos, negs) + terms
    )


def test_bm3_loss_by_hand_and_scores_through_the_predictor():
    g = tiny_graph()
    m = BM3.from_graph(g, embedding_dim=4, dropout=0.0, cl_weight=0.5, reg_weight=0.0)
    users, pos = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 4])
    out = lightgcn(g, m.user.weight, m.item.weight, layers=1)
    u, i = out[:3][users], (out[3:] + m.item.weight)[pos]
    d = lambda a, b: 1 - F.cosine_similarity(a, b, dim=-1).mean()
    expected = d(m.predictor(u), i) + d(m.predictor(i), u)
    for name, feats in g.features.items():
        f = m.transforms[name](feats[pos])
        expected = expected + 0.5 * (d(m.predictor(f), i) + d(m.predictor(f), f))
    assert torch.allclose(
        m.batch_loss(g, users, pos, torch.zeros(3, 1, dtype=torch.long)), expected, atol=1e-6
    )
    user, item = m(g)
    assert torch.allclose(item, m.predictor(out[3:] + m.item.weight), atol=1e-6)


def test_lgmrec_local_and_global_embeddings_by_hand():
    g = tiny_graph()
    m = LGMRec.from_graph(g, embedding_dim=4, hyperedges=3, tau=0.5, alpha=0.7).eval()
    adj = g.adjacency("gcn").to_dense()
    r = torch.zeros(3, 5)
    r[g.edge_index[0], g.edge_index[1]] = 1.0  # the interactions

    def smooth2(x):
        return (x + adj @ x + adj @ adj @ x) / 3

    cf = smooth2(torch.cat([m.user.weight, m.item.weight]))
    expected, glob = cf, 0
    for name, x in g.features.items():
        f = m.transforms[name](x)
        # the modality graph's last layer; users start from their items' mean
        expected = expected + F.normalize(
            adj @ adj @ torch.cat([(r / r.sum(1, keepdim=True)) @ f, f]), dim=1
        )
        logits = x @ m.hyper[name]
        h_item, h_user = (
            torch.softmax(logits / 0.5, 1),
            torch.softmax(r @ logits / 0.5, 1),
        )  # users: summed logits
        z = h_item.t() @ cf[3:]  # hyperedges read the items' LightGCN output
        glob = glob + torch.cat([h_user @ z, h_item @ z])
    expected = expected + 0.7 * F.normalize(glob, dim=1)
    user, item = m(g)
    assert torch.allclose(torch.cat([user, item]), expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(FEATURE_MODELS))
def test_feature_models_use_every_parameter_and_bags_of_words(name):
    g = tiny_graph(bags=True)
    model = build_model(name, g)
    model.train()
    model.start_epoch(g, torch.Generator().manual_seed(0))
    model.batch_loss(
        g, torch.tensor([0, 1, 2]), torch.tensor([0, 2, 4]), torch.tensor([[3], [4], [1]])
    ).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == [], unused


@pytest.mark.parametrize("name", sorted(n for n in MODELS if MODELS[n].capabilities.trainable))
def test_every_model_trains_through_the_runner(tmp_path, name):
    options = {
        "data.synthetic": True,
        "data.scale": 0.01,
        "train.epochs": 2,
        "train.batch_size": 512,
    }
    _, m = train_run(resolve_config("tiktok", model=name, **options), tmp_path, quiet=True)
    assert m["model"] == name and m["test"]["recall@20"] >= 0 and len(m["history"]) == 2


def test_paper_config_file_builds_the_released_model():
    from pathlib import Path

    from mmgraph.runs.context import Experiment

    path = Path(__file__).resolve().parents[1] / "configs" / "metammf_paper_gcn.toml"
    cfg = resolve_config(
        "movielens", config_file=path, **{"data.synthetic": True, "data.scale": 0.005}
    )
    model = Experiment.build(cfg).model
    assert model.fusion.channels == [2276, 1024, 512, 256, 32] and model.user.embedding_dim == 64
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.num_negatives) == (
        0.001,
        600,
        5,
    )  # 3000 triples a step
