"""Mini-batch training on sampled subgraphs (LinkNeighborLoader) against the whole graph."""

import pytest
import torch

from mmgraph.data import load_dataset
from mmgraph.errors import MMGraphError
from mmgraph.models import RecGraph, build_model
from mmgraph.runs.api import resolve_config, train_run
from mmgraph.train.neighbors import NeighborBatches, sample_offsets


@pytest.fixture(scope="module")
def graph():
    # the synthetic TikTok stand-in: dense visual / acoustic features and bag-of-words text
    return RecGraph.from_data(load_dataset("tiktok", None, synthetic=True, scale=0.03, seed=0))


def test_sample_offsets_distinct_and_uniform():
    torch.manual_seed(0)
    degree = torch.tensor([5, 6, 40] * 4000)
    out = sample_offsets(degree, 4)
    assert out.shape == (12000, 4)
    assert bool((out >= 0).all()) and bool((out < degree.unsqueeze(1)).all())
    assert bool((out.sort(1).values.diff(1) > 0).all())  # without replacement
    for d in (5, 6, 40):  # each offset is picked with probability k / d
        picked = torch.bincount(out[degree == d].flatten(), minlength=d).double() / 4000
        assert torch.allclose(picked, torch.full((d,), 4 / d, dtype=torch.double), atol=0.03)


def test_sampled_edges_are_real_and_follow_the_fanout(graph):
    nb = NeighborBatches(graph, [3, 2])
    users, items = graph.edge_index
    negs = torch.randint(0, graph.num_items, (users.numel(), 1))
    batch = torch.arange(0, users.numel(), 50)
    sub, u, p, n = nb.subgraph(nb.epoch(users, items, negs), batch, users.numel(), 1)
    assert torch.equal(sub.global_users(u), users[batch]) and torch.equal(
        sub.global_items(p), items[batch]
    )
    assert torch.equal(sub.global_items(n), negs[batch])
    real = set(zip(users.tolist(), items.tolist()))
    for pairs in (sub.edge_index, sub.rev_edge_index):
        assert (
            set(zip(sub.global_users(pairs[0]).tolist(), sub.global_items(pairs[1]).tolist()))
            <= real
        )
    # a seed item gets min(degree, 3) of its users at hop 1 (and no more at hop 2: it is expanded once)
    degree = torch.bincount(items, minlength=graph.num_items)
    seeds = torch.unique(torch.cat([p, n.flatten()]))
    got = torch.bincount(sub.edge_index[1], minlength=sub.num_items)[seeds]
    assert torch.equal(got, degree[sub.global_items(seeds)].clamp(max=3))
    assert len(set(map(tuple, sub.edge_index.t().tolist()))) == sub.edge_index.size(1)  # no repeats


@pytest.mark.parametrize("name", ["lightgcn", "metammf"])
def test_all_neighbours_give_the_whole_graph_loss_and_gradients(graph, name):
    torch.manual_seed(0)
    model = build_model(name, graph, **({"dropout": 0.0} if name == "metammf" else {}))
    nb = NeighborBatches(graph, [-1] * model.capabilities.hops(model))
    users, items = graph.edge_index
    negs = torch.randint(0, graph.num_items, (users.numel(), 3))
    batch = torch.randperm(users.numel())[:64]
    sub, u, p, n = nb.subgraph(nb.epoch(users, items, negs), batch, users.numel(), 3)
    assert sub.num_items < graph.num_items  # a real subgraph, not the whole graph

    def loss_and_grads(g, *triple):
        model.zero_grad()
        loss = model.batch_loss(g, *triple)
        loss.backward()
        return loss.detach(), {
            k: p.grad.to_dense() for k, p in model.named_parameters() if p.grad is not None
        }

    whole, whole_grads = loss_and_grads(graph, users[batch], items[batch], negs[batch])
    model.sparse_grads = True  # as the trainer sets it for --sampler neighbor
    sampled, sampled_grads = loss_and_grads(sub, u, p, n)
    tables = model.sparse_tables()
    assert tables and all(t.grad.is_sparse for t in tables)  # only the subgraph's rows: SparseAdam
    assert torch.allclose(sampled, whole, atol=1e-6)
    assert whole_grads.keys() == sampled_grads.keys()
    for key, grad in whole_grads.items():
        assert torch.allclose(sampled_grads[key], grad, atol=1e-6, rtol=1e-4), key


def test_metammf_fuses_only_the_items_its_seeds_read(graph):
    torch.manual_seed(0)
    model = build_model("metammf", graph, dropout=0.0, propagation_layers=1).eval()
    nb = NeighborBatches(graph, [3, 3])
    users, items = graph.edge_index
    negs = torch.randint(0, graph.num_items, (users.numel(), 2))
    sub, u, p, n = nb.subgraph(
        nb.epoch(users, items, negs), torch.randperm(users.numel())[:100], users.numel(), 2
    )
    assert sub.items_within(1) < sub.num_items  # items found at hop 2 exist, and are not fused
    with torch.no_grad():
        user, item = model(sub)
        sub.item_hops = None  # fuse every item of the subgraph
        every_user, every_item = model(sub)
    seeds = torch.cat([p, n.flatten()])
    assert torch.allclose(user[u], every_user[u], atol=1e-6)
    assert torch.allclose(item[seeds], every_item[seeds], atol=1e-6)


def _train(tmp_path, model, sampler, fanout=None):
    cfg = resolve_config(
        "tiktok",
        sets=[f"model={model}"],
        **{
            "data.synthetic": True,
            "data.scale": 0.03,
            "train.epochs": 6,
            "train.batch_size": 1024,
            "train.device": "cpu",
            "train.sampler": sampler,
            "train.fanout": fanout,
        },
    )
    return train_run(cfg, tmp_path / sampler, quiet=True)[1]["test"]["recall@20"]


# Stated tolerance: on this 1,100-user SYNTHETIC graph, 6 epochs with 10 neighbours per hop
# reach a test Recall@20 within 0.025 of training on the whole graph (measured: LightGCN 0.1866
# vs 0.1866; MetaMMF 0.1873 vs 0.2028, its sparse tables under lazy SparseAdam).
@pytest.mark.parametrize("name", ["lightgcn", "metammf"])
def test_minibatch_training_reaches_full_graph_recall(tmp_path, name):
    full = _train(tmp_path, name, "full")
    sampled = _train(
        tmp_path, name, "neighbor", "10,10,10" if name == "lightgcn" else "10,10,10,10"
    )
    assert sampled == pytest.approx(full, abs=0.025)


def test_sampler_refuses_what_it_cannot_train(tmp_path):
    with pytest.raises(MMGraphError, match="reads 3"):
        _train(tmp_path, "lightgcn", "neighbor", "10,10")
    with pytest.raises(MMGraphError, match="needs the whole graph"):
        _train(tmp_path, "lattice", "neighbor")
    assert not (tmp_path / "neighbor").exists()  # refused before any run folder
