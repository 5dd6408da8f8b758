"""LGMRec against the authors' code (github.com/georgeguo-cn/LGMRec), on tiny graphs by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import LGMRec, RecGraph, build_model, model_options

TAU = 0.2


def tiny_graph(bags=False):
    """4 users (user 3 without items), 6 items; image 5-d, text 3-d."""
    torch.manual_seed(0)
    g = RecGraph(
        4,
        6,
        torch.tensor([[0, 0, 0, 1, 1, 2, 2], [0, 1, 2, 2, 3, 4, 5]]),
        {"image": torch.randn(6, 5), "text": torch.randn(6, 3)},
    )
    if bags:
        g.bags["words"] = torch.tensor([[0, 0, 2, 3, 4, 5], [1, 4, 4, 0, 2, 3]])
        g.bag_vocab["words"] = 5
    return g


def random_graph(num_users, num_items, edges, dims, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.stack(
        [
            torch.randint(0, num_users, (edges,), generator=gen),
            torch.randint(0, num_items, (edges,), generator=gen),
        ]
    ).unique(dim=1)
    return RecGraph(
        num_users,
        num_items,
        ei,
        {m: torch.randn(num_items, d, generator=gen) for m, d in dims.items()},
    )


def dense(g):
    """The binary interactions R [U, I] and D^-1/2 A D^-1/2 over the U + I nodes, written out."""
    r = torch.zeros(g.num_users, g.num_items)
    r[g.edge_index[0], g.edge_index[1]] = 1.0
    a = torch.zeros(g.num_users + g.num_items, g.num_users + g.num_items)
    a[: g.num_users, g.num_users :], a[g.num_users :, : g.num_users] = r, r.t()
    deg = a.sum(1)
    d = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    return r, d[:, None] * a * d[None, :]


@torch.no_grad()
def by_hand(m, g):
    """Eval-mode final embeddings [U + I, d] and per-modality global embeddings, from the
    reference's forward: LightGCN layer mean; modality graph last layer; hypergraph on the
    LightGCN item output, users through a softmax of their items' summed logits."""
    r, adj = dense(g)
    x = torch.cat([m.user.weight, m.item.weight])
    layers = [x]
    for _ in range(m.ui_layers):
        layers.append(adj @ layers[-1])
    cf = torch.stack(layers).mean(0)
    user_mean = r / r.sum(1, keepdim=True).clamp(min=1)
    local, glob = cf.clone(), {}
    for name, feats in g.features.items():
        f = feats @ m.transforms[name].weight.t()
        h = torch.cat([user_mean @ f, f])
        for _ in range(m.modality_layers):
            h = adj @ h
        local = local + h / h.norm(dim=1, keepdim=True).clamp(min=1e-12)  # user 3: no items, zeros
        logits = feats @ m.hyper[name]
        h_item, h_user = torch.softmax(logits / TAU, 1), torch.softmax(r @ logits / TAU, 1)
        e = cf[g.num_users :]
        for _ in range(m.hyper_layers):
            z = h_item.t() @ e
            e = h_item @ z
        glob[name] = torch.cat([h_user @ z, e])
    total = sum(glob.values())
    return local + m.alpha * total / total.norm(dim=1, keepdim=True), glob


@pytest.mark.parametrize("layers", [(2, 2, 1), (3, 1, 2), (0, 0, 1)])
def test_embeddings_by_hand(layers):
    ui, mm, hyper = layers
    g = tiny_graph()
    m = LGMRec.from_graph(
        g,
        embedding_dim=4,
        ui_layers=ui,
        modality_layers=mm,
        hyper_layers=hyper,
        hyperedges=3,
        alpha=0.7,
    ).eval()
    expected, glob = by_hand(m, g)
    out, parts = m.parts(g)
    assert torch.allclose(out, expected, atol=1e-5)
    for name in g.features:
        assert torch.allclose(parts[name], glob[name], atol=1e-5)
    user, item = m(g)
    assert torch.allclose(torch.cat([user, item]), expected, atol=1e-5)
    assert m.transforms["image"].bias is None  # the reference projects without bias


def test_contrastive_term_by_hand_sums_infonce_over_all_users_and_items():
    g = tiny_graph()
    m = LGMRec.from_graph(g, embedding_dim=4, hyperedges=3, cl_weight=0.3, reg_weight=0.05).eval()
    users = torch.tensor([0, 2, 0, 1, 3])  # duplicates count twice, as in the reference
    pos = torch.tensor([1, 4, 1, 3, 0])
    negs = torch.tensor([[5], [0], [3], [1], [2]])
    final, glob = by_hand(m, g)
    U, I = g.num_users, g.num_items

    def cos(a, b):
        a, b = a.tolist(), b.tolist()
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    image, text = glob["image"], glob["text"]  # image anchors, text gives positives and negatives
    cl = 0.0
    for u in users.tolist():
        den = sum(math.exp(cos(image[u], text[v]) / TAU) for v in range(U))
        cl -= math.log(math.exp(cos(image[u], text[u]) / TAU) / den)
    for i in pos.tolist():
        den = sum(math.exp(cos(image[U + i], text[U + j]) / TAU) for j in range(I))
        cl -= math.log(math.exp(cos(image[U + i], text[U + i]) / TAU) / den)
    assert cl > len(users) * 0.5  # a sum over the batch, not a mean

    _, parts = m.parts(g)
    assert m.contrastive_loss(parts, users, pos).item() == pytest.approx(cl, rel=1e-5)

    # the whole loss: BPR (mean) + cl_weight * sum InfoNCE + reg_weight * (L2 norms of the final rows) / B
    user_emb, item_emb = final[:U], final[U:]
    bpr = -F.logsigmoid((user_emb[users] * (item_emb[pos] - item_emb[negs[:, 0]])).sum(1)).mean()
    norms = sum(
        float(t.pow(2).sum().sqrt()) for t in (user_emb[users], item_emb[pos], item_emb[negs[:, 0]])
    )
    expected = float(bpr) + 0.3 * cl + 0.05 * norms / len(users)
    assert m.batch_loss(g, users, pos, negs).item() == pytest.approx(expected, rel=1e-5)


def test_user_memberships_are_a_softmax_of_summed_item_logits():
    g = tiny_graph()
    m = LGMRec.from_graph(g, hyperedges=3).eval()
    with torch.no_grad():
        for p in m.hyper.values():
            p.mul_(5)  # sharper memberships: the two formulas below differ clearly
    r, _ = dense(g)
    for name, (h_user, h_item) in m.memberships(g).items():
        logits = g.features[name] @ m.hyper[name]
        assert torch.allclose(h_item, torch.softmax(logits / TAU, 1), atol=1e-6)
        summed = torch.zeros(g.num_users, 3)
        for u, i in g.edge_index.t().tolist():
            summed[u] += logits[i]
        assert torch.allclose(h_user, torch.softmax(summed / TAU, 1), atol=1e-6)
        mean_of_probs = (r @ h_item) / r.sum(1, keepdim=True).clamp(min=1)
        assert not torch.allclose(h_user[:3], mean_of_probs[:3], atol=1e-2)
        assert torch.allclose(h_user[3], torch.full((3,), 1 / 3))  # no items: uniform


def test_keep_rate_drops_memberships_in_training_only():
    g = random_graph(300, 500, 3000, {"image": 6})
    kept = LGMRec.from_graph(g, hyperedges=32, keep_rate=0.25)
    full = LGMRec.from_graph(g, hyperedges=32, keep_rate=1.0)
    full.load_state_dict(kept.state_dict())

    kept.eval()  # evaluation: the full, noise-free memberships, every entry positive
    h_user, h_item = kept.memberships(g)["image"]
    assert (h_user > 0).all() and (h_item > 0).all()
    assert torch.allclose(h_user.sum(1), torch.ones(300)) and torch.allclose(
        h_item.sum(1), torch.ones(500)
    )
    assert torch.equal(kept(g)[1], kept(g)[1])

    for model in (kept, full):  # training, the same Gumbel noise: full has no dropout
        model.train()
        model.start_epoch(g, torch.Generator().manual_seed(7))
    (d_user, d_item), (f_user, f_item) = kept.memberships(g)["image"], full.memberships(g)["image"]
    assert torch.allclose(f_user.sum(1), torch.ones(300)) and torch.allclose(
        f_item.sum(1), torch.ones(500)
    )
    assert not torch.allclose(f_item, h_item, atol=1e-3)  # Gumbel noise in training
    for dropped, whole in ((d_user, f_user), (d_item, f_item)):
        zero = dropped == 0
        assert abs(zero.float().mean().item() - 0.75) < 0.02  # 1 - keep_rate of the entries
        assert torch.allclose(
            dropped[~zero], whole[~zero] / 0.25
        )  # the rest rescaled by 1 / keep_rate


def test_training_randomness_comes_from_the_trainer_generator():
    g = tiny_graph()
    m = LGMRec.from_graph(g, embedding_dim=4).train()
    batch = torch.tensor([0, 1, 2]), torch.tensor([0, 2, 4]), torch.tensor([[3], [4], [1]])
    losses = []
    for seed in (1, 1, 2):
        m.start_epoch(g, torch.Generator().manual_seed(seed))
        state = torch.get_rng_state()
        losses.append(m.batch_loss(g, *batch).item())
        assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    assert losses[0] == losses[1] != losses[2]


def test_one_training_step_reduces_the_loss_and_reaches_every_parameter_group():
    g = tiny_graph(bags=True)
    m = build_model("lgmrec", g, embedding_dim=8, cl_weight=1e-2, reg_weight=1e-3).train()
    users, pos, negs = (
        torch.tensor([0, 0, 1, 2, 2]),
        torch.tensor([0, 1, 3, 4, 5]),
        torch.tensor([[3], [5], [0], [1], [2]]),
    )

    def loss():
        m.start_epoch(g, torch.Generator().manual_seed(0))  # the same noise and masks each time
        return m.batch_loss(g, users, pos, negs)

    before = loss()
    before.backward()
    groups = m.parameter_groups()
    assert groups["embeddings"] and groups["network"]
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    torch.optim.SGD(m.parameters(), lr=0.05).step()
    with torch.no_grad():
        assert loss().item() < before.item()


def test_options_are_the_reference_defaults_and_are_checked():
    assert model_options("lgmrec") == {
        "embedding_dim": 64,
        "ui_layers": 2,
        "modality_layers": 2,
        "hyper_layers": 1,
        "hyperedges": 4,
        "keep_rate": 0.5,
        "tau": 0.2,
        "alpha": 0.3,
        "cl_weight": 1e-4,
        "reg_weight": 1e-6,
        "word_dim": 64,
    }
    g = tiny_graph()
    for bad in ({"keep_rate": 0.0}, {"keep_rate": 1.5}, {"hyper_layers": 0}, {"tau": 0.0}):
        with pytest.raises(ValueError):
            LGMRec.from_graph(g, **bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_step_draws_from_the_trainer_generator_without_host_syncs():
    import warnings

    g = random_graph(200, 300, 2000, {"image": 16, "text": 8}).to("cuda")
    m = LGMRec.from_graph(g).cuda().train()
    m.start_epoch(g, torch.Generator(device="cuda").manual_seed(0))
    users = torch.randint(0, 200, (64,), device="cuda")
    pos, negs = (
        torch.randint(0, 300, (64,), device="cuda"),
        torch.randint(0, 300, (64, 1), device="cuda"),
    )
    m.batch_loss(g, users, pos, negs).backward()  # builds and caches the graph's matrices
    state = torch.cuda.get_rng_state()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = m.batch_loss(g, users, pos, negs)
            loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [f"{w.filename}:{w.lineno}" for w in caught if w.filename.endswith("lgmrec.py")]
    assert syncs == []  # no host round-trip in the model's own code
    assert torch.equal(state, torch.cuda.get_rng_state())  # drawn from the trainer's CUDA generator
    assert all(p.grad.is_cuda for p in m.parameters()) and torch.isfinite(loss).item()
