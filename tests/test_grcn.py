"""GRCN (MMRec's src/models/grcn.py): the refining layer, fusion, pruning, GCN and loss by hand."""

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import GRCN, RecGraph
from mmgraph.models.grcn import _affinity, _Edges, _propagate

U, I = 4, 6


def graph(bags=False):
    """4 users, 6 items, 9 interactions (item 5 has none); visual 5-d, acoustic 3-d."""
    torch.manual_seed(0)
    g = RecGraph(
        U,
        I,
        torch.tensor([[0, 0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 2, 1, 3, 0, 4, 2, 3]]),
        {"visual": torch.randn(I, 5), "acoustic": torch.randn(I, 3)},
    )
    if bags:
        g.bags["textual"] = torch.tensor([[0, 0, 2, 3, 4, 5], [1, 4, 4, 0, 2, 3]])
        g.bag_vocab["textual"] = 5
    return g


def model(g, **kw):
    torch.manual_seed(1)
    m = GRCN.from_graph(g, embedding_dim=3, content_dim=4, **kw)
    if m.confidence is not None:  # Xavier-normal over U + I rows is tiny; spread it, with negatives
        with torch.no_grad():
            m.confidence.weight.copy_(torch.randn_like(m.confidence.weight))
    return m


def by_hand(m, g):
    """Per modality: content c [I, C], preference p [U, C] (no routing), and the two softmaxes per
    edge, one edge at a time."""
    users, items = g.edge_index.tolist()
    out = []
    for name, x in g.features.items():
        lin = m.project[name]
        c = F.normalize(F.leaky_relu(x @ lin.weight.t() + lin.bias), dim=1)
        p = F.normalize(m.preference[name].weight, dim=1)
        logit = [float(p[u].detach() @ c[i].detach()) for u, i in zip(users, items)]
        to_item = torch.tensor(
            [
                torch.tensor(logit[e]).exp()
                / sum(
                    torch.tensor(logit[f]).exp() for f in range(len(users)) if items[f] == items[e]
                )
                for e in range(len(users))
            ]
        )
        to_user = torch.tensor(
            [
                torch.tensor(logit[e]).exp()
                / sum(
                    torch.tensor(logit[f]).exp() for f in range(len(users)) if users[f] == users[e]
                )
                for e in range(len(users))
            ]
        )
        out.append((c, p, to_item, to_user))
    return out


def test_edge_scores_are_softmaxes_of_preference_content_affinity():
    g = graph()
    m = model(g, edge_fusion="mean")
    r = m.refine(g)
    hand = by_hand(m, g)
    for k, (c, p, to_item, to_user) in enumerate(hand):
        assert torch.allclose(r.contents[k], c, atol=1e-6) and torch.allclose(
            r.preferences[k], p, atol=1e-6
        )
        assert torch.allclose(r.alpha_to_item[k], to_item, atol=1e-6)
        assert torch.allclose(r.alpha_to_user[k], to_user, atol=1e-6)
    users, items = g.edge_index
    # normalized at the receiving node: every item's (user's) incoming weights sum to one
    assert torch.allclose(
        torch.zeros(I).index_add_(0, items, r.alpha_to_item[0])[:5], torch.ones(5)
    )
    assert torch.allclose(torch.zeros(U).index_add_(0, users, r.alpha_to_user[0]), torch.ones(U))
    assert not torch.allclose(r.alpha_to_item, r.alpha_to_user)


@pytest.mark.parametrize("edge_fusion", ["confid", "max", "mean"])
@pytest.mark.parametrize("pruning", [True, False])
def test_edge_fusion_and_pruning_by_hand(edge_fusion, pruning):
    g = graph()
    m = model(g, edge_fusion=edge_fusion, pruning=pruning)
    with torch.no_grad():
        if m.confidence is not None:
            m.confidence.weight[0] = torch.tensor([-1.0, -0.5])  # user 0: no modality it trusts
    users, items = g.edge_index.tolist()
    a_item = torch.stack([h[2] for h in by_hand(m, g)])  # [M, E]
    a_user = torch.stack([h[3] for h in by_hand(m, g)])
    to_item, to_user = torch.zeros(len(users)), torch.zeros(len(users))
    for e, (u, i) in enumerate(zip(users, items)):
        if (
            edge_fusion == "confid"
        ):  # the sender's confidence: the user on u -> i, the item on i -> u
            kappa_u, kappa_i = m.confidence.weight.detach()[u], m.confidence.weight.detach()[U + i]
            to_item[e] = max(float(a_item[k, e] * kappa_u[k]) for k in range(2))
            to_user[e] = max(float(a_user[k, e] * kappa_i[k]) for k in range(2))
        elif edge_fusion == "max":
            to_item[e], to_user[e] = a_item[:, e].max(), a_user[:, e].max()
        else:
            to_item[e], to_user[e] = a_item[:, e].mean(), a_user[:, e].mean()
    if pruning:
        to_item, to_user = to_item.clamp(min=0), to_user.clamp(min=0)
    r = m.refine(g)
    assert torch.allclose(r.to_item, to_item, atol=1e-6) and torch.allclose(
        r.to_user, to_user, atol=1e-6
    )
    if (
        edge_fusion == "confid"
    ):  # user 0's messages to its items: negative, or pruned to exactly zero
        sent = torch.tensor(users) == 0
        assert (r.to_item[sent] == 0).all() if pruning else (r.to_item[sent] < 0).all()
        assert (r.to_item[~sent] != 0).any()
    else:  # softmax weights are positive: pruning changes nothing
        assert (r.to_item > 0).all() and (r.to_user > 0).all()


def test_routing_moves_the_preferences_by_hand_and_zero_iterations_keep_them():
    g = graph()
    m = model(g, routing=2)
    users, items = g.edge_index.tolist()
    r = m.refine(g)
    for k, name in enumerate(g.features):
        c = r.contents[k]
        p = F.normalize(m.preference[name].weight, dim=1)
        for _ in range(2):
            new = p.clone()
            for u in range(U):
                mine = [i for v, i in zip(users, items) if v == u]
                a = torch.softmax(c[mine] @ p[u], 0)
                new[u] = F.normalize(p[u] + (a[:, None] * c[mine]).sum(0), dim=0)
            p = new
        assert torch.allclose(r.preferences[k], p, atol=1e-6)
        assert not torch.allclose(p, F.normalize(m.preference[name].weight, dim=1), atol=1e-3)
    still = model(g, routing=0).refine(g)
    for k, name in enumerate(g.features):
        assert torch.equal(still.preferences[k], F.normalize(m.preference[name].weight, dim=1))


@pytest.mark.parametrize("fusion_mode", ["concat", "mean", "id"])
def test_embed_is_the_gcn_over_the_refined_graph_plus_content_by_hand(fusion_mode):
    g = graph()
    dims = {"embedding_dim": 4} if fusion_mode == "mean" else {}
    torch.manual_seed(1)
    m = GRCN.from_graph(
        g, content_dim=4, num_layers=2, fusion_mode=fusion_mode, **({"embedding_dim": 3} | dims)
    )
    with torch.no_grad():
        m.confidence.weight.copy_(torch.randn_like(m.confidence.weight))
    r = m.refine(g)
    users, items = g.edge_index

    def dense(to_item, to_user):  # [I, U] receives u -> i, [U, I] receives i -> u
        a_item, a_user = torch.zeros(I, U), torch.zeros(U, I)
        a_item[items, users], a_user[users, items] = to_item, to_user
        return a_item, a_user

    a_item, a_user = dense(r.to_item, r.to_user)
    h = F.normalize(m.ids.weight, dim=1)
    hu, hi = h[:U], h[U:]
    hu1, hi1 = a_user @ hi, a_item @ hu
    hu2, hi2 = a_user @ hi1, a_item @ hu1
    id_user, id_item = hu + hu1 + hu2, hi + hi1 + hi2
    content_user, content_item = [], []
    for k in range(2):
        s_item, s_user = dense(r.alpha_to_item[k], r.alpha_to_user[k])
        p, c = r.preferences[k], r.contents[k]
        content_user.append(p + s_user @ c)
        content_item.append(c + s_item @ p)
    user, item = m(g)
    if fusion_mode == "concat":
        expected = torch.cat([id_user, *content_user], 1), torch.cat([id_item, *content_item], 1)
    elif fusion_mode == "mean":
        expected = (id_user + sum(content_user)) / 3, (id_item + sum(content_item)) / 3
    else:
        expected = id_user, id_item
    assert torch.allclose(user, expected[0], atol=1e-5) and torch.allclose(
        item, expected[1], atol=1e-5
    )
    assert user.shape == (U, {"concat": 3 + 2 * 4, "mean": 4, "id": 3}[fusion_mode])
    pairs = m.score(user, item, torch.tensor([0, 3]), torch.tensor([5, 2]))
    assert torch.allclose(pairs, torch.stack([user[0] @ item[5], user[3] @ item[2]]))


def test_loss_is_bpr_plus_mean_square_penalties_as_mmrec():
    g = graph()
    m = model(g, reg_weight=0.3)
    users, pos, negs = (
        torch.tensor([0, 3, 1]),
        torch.tensor([1, 2, 3]),
        torch.tensor([[4], [0], [5]]),
    )
    user, item = m(g)
    bpr = -F.logsigmoid(
        (user[users] * item[pos]).sum(-1) - (user[users] * item[negs[:, 0]]).sum(-1)
    ).mean()
    ids = m.ids.weight
    ut = users.repeat_interleave(
        2
    )  # MMRec's layout: (user, pos), (user, neg) rows, mean over all entries
    it = torch.stack([pos, negs[:, 0]], 1).flatten() + U
    visual, acoustic = m.preference["visual"].weight, m.preference["acoustic"].weight
    reg = (
        (ids[ut] ** 2 + ids[it] ** 2).mean()
        + (visual**2).mean()
        + (visual[ut] ** 2).mean()
        + (acoustic[ut] ** 2).mean()
    )
    assert torch.allclose(m.batch_loss(g, users, pos, negs), bpr + 0.3 * reg, atol=1e-6)
    assert torch.equal(model(g, reg_weight=0.0).regularization(users, pos), torch.zeros(()))


@pytest.mark.parametrize(
    "options", [{}, {"edge_fusion": "max"}, {"fusion_mode": "id"}, {"routing": 2}]
)
def test_gradients_reach_every_parameter(options):
    g = graph(bags=True)
    m = GRCN.from_graph(g, **options)
    m.train()
    m.batch_loss(
        g,
        torch.tensor([0, 1, 2, 3]),
        torch.tensor([0, 3, 4, 2]),
        torch.tensor([[5], [4], [1], [0]]),
    ).backward()
    dead = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == [], dead
    assert (m.confidence is None) == (options.get("edge_fusion") == "max")


@pytest.mark.parametrize("to_users", [True, False])
def test_weighted_propagation_matches_dense_and_its_gradients(to_users):
    g = graph()
    edges = _Edges.of(g.edge_index, U, I)
    w = torch.randn(g.edge_index.size(1), dtype=torch.double, requires_grad=True)
    x = torch.randn(I if to_users else U, 3, dtype=torch.double, requires_grad=True)
    a = torch.zeros(U, I, dtype=torch.double).index_put((g.edge_index[0], g.edge_index[1]), w)
    assert torch.allclose(_propagate(edges, w, x, to_users), (a if to_users else a.t()) @ x)
    assert torch.autograd.gradcheck(lambda w, x: _propagate(edges, w, x, to_users), (w, x))


def test_edge_dropout_equals_removing_the_edges_and_only_in_training():
    g = graph()
    m = model(g, dropout=0.4)
    torch.manual_seed(7)
    keep = torch.rand(g.edge_index.size(1)) >= 0.4  # the first draw of embed
    assert 0 < keep.sum() < keep.numel()
    m.train()
    torch.manual_seed(7)
    dropped = m(g)
    m.eval()
    kept = m(RecGraph(U, I, g.edge_index[:, keep], g.features))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(dropped, kept))
    full = m(g)  # evaluation: every edge
    assert all(torch.allclose(a, b) for a, b in zip(full, model(g).eval()(g)))


def test_defaults_are_the_reference_and_options_are_checked():
    g = graph()
    m = GRCN.from_graph(g)
    assert (m.ids.embedding_dim, m.preference["visual"].embedding_dim, m.num_layers, m.routing) == (
        64,
        64,
        2,
        0,
    )
    assert (m.edge_fusion, m.pruning, m.fusion_mode, m.dropout, m.reg_weight) == (
        "confid",
        True,
        "concat",
        0.0,
        1e-4,
    )
    # Xavier-normal tables: std sqrt(2 / (rows + cols))
    assert abs(m.ids.weight.std().item() / (2 / (U + I + 64)) ** 0.5 - 1) < 0.1
    with pytest.raises(ValueError, match="edge_fusion"):
        GRCN.from_graph(g, edge_fusion="sum")
    with pytest.raises(ValueError, match="fusion_mode"):
        GRCN.from_graph(g, fusion_mode="max")
    with pytest.raises(ValueError, match="must equal content_dim"):
        GRCN.from_graph(g, fusion_mode="mean", embedding_dim=32)


def test_edge_affinity_matches_gathered_dots_and_its_gradients():
    g = graph()
    edges = _Edges.of(g.edge_index, U, I)
    p = torch.randn(U, 3, dtype=torch.double, requires_grad=True)
    c = torch.randn(I, 3, dtype=torch.double, requires_grad=True)
    users, items = g.edge_index
    assert torch.allclose(_affinity(edges, p, c), (p[users] * c[items]).sum(-1))
    assert torch.autograd.gradcheck(lambda p, c: _affinity(edges, p, c), (p, c))
