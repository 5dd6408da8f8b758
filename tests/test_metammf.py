import pytest
import torch

from mmgraph.data import load_dataset
from mmgraph.models import MetaMMF, RecGraph
from mmgraph.nn import BagOfWordsEncoder, ModalityEncoder, spmm


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    return RecGraph.from_data(load_dataset("kwai", synthetic=True, scale=0.01))


def tiny_graph(bags=False):
    """3 users, 4 items; visual 5-d, acoustic 2-d, optionally textual as (item, word) pairs."""
    torch.manual_seed(0)
    g = RecGraph(
        3,
        4,
        torch.tensor([[0, 0, 1, 2], [0, 1, 2, 3]]),
        {"visual": torch.randn(4, 5), "acoustic": torch.randn(4, 2)},
    )
    if bags:
        g.bags["textual"] = torch.tensor([[0, 0, 2, 3], [1, 4, 4, 0]])
        g.bag_vocab["textual"] = 5
    return g


@pytest.mark.parametrize("variant", ["design", "paper-gcn", "paper-mf"])
@pytest.mark.parametrize("fusion", ["meta-cp", "meta-full", "static"])
def test_every_variant_embeds_scores_and_trains(variant, fusion):
    g = tiny_graph(bags=True)
    g.cold = torch.tensor([False, False, False, True])  # item 3 takes the default ID vector
    model = MetaMMF.from_graph(
        g,
        variant=variant,
        fusion=fusion,
        fusion_hidden=[6],
        hidden_dim=4,
        fused_dim=3,
        id_dim=2,
        reg_weight=0.1,
    )
    user, item = model(g)
    assert user.shape == (3, 5) and item.shape == (4, 5)
    users, items = torch.tensor([0, 1]), torch.tensor([2, 3])
    s = model.score(user, item, users, items)
    assert torch.allclose(s, (user[users] * item[items]).sum(-1))
    assert model.full_scores(user, item, users).shape == (2, 4)
    (s.sum() + model.regularization(users, items)).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == [], unused  # every parameter takes part


def test_bag_of_words_is_a_mean_of_word_embeddings():
    enc = BagOfWordsEncoder(5, 3)
    pairs = torch.tensor([[2, 0, 0], [4, 1, 3]])  # item 1 has no words
    out = enc(pairs, num_items=3)
    W = enc.embedding.weight
    assert torch.allclose(out[0], (W[1] + W[3]) / 2) and torch.allclose(out[2], W[4])
    assert torch.equal(out[1], torch.zeros(3))


def test_modality_encoder_shapes(graph):
    enc = ModalityEncoder(graph.num_users, graph.features["visual"].size(1), 8, num_layers=2)
    users, items = enc(graph.features["visual"], graph.adjacency("gcn"))
    assert users.shape == (graph.num_users, 8) and items.shape == (graph.num_items, 8)


def test_kwai_without_acoustic(graph):
    assert graph.modalities == ["visual", "textual"]
    model = MetaMMF.from_graph(graph)
    user, item = model(graph)
    assert item.shape == (graph.num_items, 96)  # fused 32 + item ID 64


def test_meta_vectors_are_per_item(graph):
    model = MetaMMF.from_graph(graph).eval()
    meta = model.fuse(graph)[1]
    assert meta.shape == (graph.num_items, 5) and meta.std(0).min() > 0


def test_missing_modality_in_graph():
    model = MetaMMF.from_graph(tiny_graph())
    g = tiny_graph()
    del g.features["acoustic"]
    with pytest.raises(ValueError, match="lacks \\['acoustic'\\]"):
        model(g)


def test_adjacency_is_cached_and_symmetric(graph):
    a = graph.adjacency("gcn")
    assert graph.adjacency("gcn") is a
    dense = a.to_dense()
    assert torch.allclose(dense, dense.t(), atol=1e-6)
    n = graph.num_users + graph.num_items
    assert a.shape == (n, n) and a._nnz() == 2 * graph.edge_index.size(1)
    assert a._mmgraph_transpose is a  # symmetric: stored once
    mean = graph.adjacency("mean")
    assert mean._mmgraph_transpose is not mean  # mean-normalized rows are not symmetric
    for adj in (a, mean):  # the backward pass uses the attached transpose
        x = torch.randn(n, 3, requires_grad=True)
        spmm(adj, x).pow(2).sum().backward()
        ref = x.detach().clone().requires_grad_()
        (adj.to_dense() @ ref).pow(2).sum().backward()
        assert torch.allclose(x.grad, ref.grad, atol=1e-5)


def test_paper_gcn_sizes_follow_the_released_code():
    model = MetaMMF(10, 20, {"visual": 2048, "acoustic": 128, "textual": 100}, variant="paper-gcn")
    assert model.fusion.channels == [2276, 1024, 512, 256, 32]
    assert model.item_id.embedding_dim == 32 and model.user.embedding_dim == 64
    assert len(model.graph_layers) == 2


def test_bad_options():
    with pytest.raises(ValueError, match="variant"):
        MetaMMF(2, 2, {"v": 3}, variant="gat")
    with pytest.raises(ValueError, match="fusion"):
        MetaMMF(2, 2, {"v": 3}, fusion="attention")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    g = tiny_graph(bags=True)
    model = MetaMMF.from_graph(g, fusion_hidden=[6], hidden_dim=4).eval()
    user, item = model(g)
    gpu_user, gpu_item = model.cuda()(g.to("cuda"))
    assert torch.allclose(user, gpu_user.cpu(), atol=1e-5) and torch.allclose(
        item, gpu_item.cpu(), atol=1e-5
    )


@pytest.mark.parametrize("propagation", ["lightgcn", "sage", "none"])
def test_final_propagation_options(propagation):
    g = tiny_graph()
    model = MetaMMF.from_graph(g, propagation=propagation, fusion_hidden=[6], hidden_dim=4)
    user, item = model(g)
    assert user.shape == (3, 96) and item.shape == (4, 96)
    assert model.propagation == propagation
    assert MetaMMF.from_graph(g).propagation == "lightgcn"  # design default
    with pytest.raises(ValueError, match="propagation"):
        MetaMMF.from_graph(g, propagation="gat")


def test_popularity_scores_by_training_count():
    from mmgraph.models import Popularity

    g = tiny_graph()
    g.edge_index = torch.tensor([[0, 1, 2, 0], [3, 3, 3, 1]])
    user, item = Popularity.from_graph(g)(g)
    assert Popularity.from_graph(g).full_scores(user, item, torch.tensor([1]))[0].tolist() == [
        0,
        1,
        0,
        3,
    ]


def test_checkpoints_with_the_old_text_encoder_names_still_load():
    g = tiny_graph(bags=True)
    model = MetaMMF.from_graph(g, hidden_dim=4)
    old = {k.replace("inputs.text.", "text."): v.clone() for k, v in model.state_dict().items()}
    assert "text.textual.embedding.weight" in old
    fresh = MetaMMF.from_graph(g, hidden_dim=4)
    fresh.load_state_dict(old)
    assert torch.equal(
        fresh.inputs.text["textual"].embedding.weight, model.inputs.text["textual"].embedding.weight
    )
