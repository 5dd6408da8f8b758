import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.data import HeteroData
from torch_geometric.nn import SAGEConv, to_hetero
from torch_geometric.typing import WITH_TORCH_SPARSE

from mmgraph.nn import ModalityConv, normalized_adjacency

# A 4-node graph (source -> target); node 3 receives nothing.
EDGE_INDEX = torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 1, 0]])


def csr_adj_t(edge_index, n=4):
    return torch.sparse_coo_tensor(
        edge_index.flip(0), torch.ones(edge_index.size(1)), (n, n)
    ).to_sparse_csr()


def run(conv, x, adj):
    x = x.clone().requires_grad_()
    conv.zero_grad()
    out = conv(x, adj)
    out.pow(2).sum().backward()
    return out.detach(), x.grad, [p.grad.clone() for p in conv.parameters()]


@pytest.mark.parametrize("normalization", ["mean", "gcn", "sum"])
@pytest.mark.parametrize("combine", ["add", "concat", "none"])
def test_edge_index_csr_edgeindex_give_same_output_and_gradients(normalization, combine):
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    conv = ModalityConv(3, 4, normalization=normalization, combine=combine)
    ref = run(conv, x, EDGE_INDEX)  # scatter-based message passing
    pre = ModalityConv(3, 4, normalization=normalization, combine=combine, normalize=False)
    pre.load_state_dict(conv.state_dict())
    cached = ModalityConv(3, 4, normalization=normalization, combine=combine, cached=True)
    cached.load_state_dict(conv.state_dict())
    for other in (
        run(conv, x, csr_adj_t(EDGE_INDEX)),
        run(conv, x, EdgeIndex(EDGE_INDEX, sparse_size=(4, 4))),
        run(pre, x, normalized_adjacency(EDGE_INDEX, (4, 4), normalization)),
        run(cached, x, EDGE_INDEX),
        run(cached, x, EDGE_INDEX),
    ):
        assert torch.allclose(ref[0], other[0], atol=1e-6)
        assert torch.allclose(ref[1], other[1], atol=1e-6)
        for a, b in zip(ref[2], other[2]):
            assert torch.allclose(a, b, atol=1e-6)


def test_normalizations_match_dense_formulas():
    x = torch.randn(4, 2)
    A = torch.zeros(4, 4)
    A[EDGE_INDEX[1], EDGE_INDEX[0]] = 1  # A[target, source]
    d_in, d_out = A.sum(1), A.sum(0)
    conv = ModalityConv(2, 2, normalization="gcn", combine="none", bias=False)
    with torch.no_grad():
        conv.lin_neigh.weight.copy_(torch.eye(2))
    gcn = (A / (d_in.clamp(min=1).sqrt()[:, None] * d_out.clamp(min=1).sqrt()[None, :])) @ x
    assert torch.allclose(conv(x, EDGE_INDEX), gcn, atol=1e-6)
    conv.normalization = "mean"
    assert torch.allclose(conv(x, EDGE_INDEX), (A / d_in.clamp(min=1)[:, None]) @ x, atol=1e-6)


def test_isolated_target_keeps_only_its_own_term():
    conv = ModalityConv(3, 4)
    x = torch.randn(4, 3)
    out = conv(x, EDGE_INDEX)
    assert torch.allclose(out[3], conv.lin_neigh.bias + conv.lin_self(x[3:4])[0], atol=1e-6)


def test_bipartite_shapes():
    users, items = torch.randn(3, 5), torch.randn(2, 7)
    ei = torch.tensor([[0, 1, 2, 2], [0, 0, 1, 0]])  # user -> item
    conv = ModalityConv((5, 7), 4)
    out = conv((users, items), ei)
    assert out.shape == (2, 4)
    adj_t = torch.sparse_coo_tensor(ei.flip(0), torch.ones(4), (2, 3)).to_sparse_csr()
    assert torch.allclose(out, conv((users, items), adj_t), atol=1e-6)


def test_mean_add_is_graphsage():
    x = torch.randn(4, 3)
    ours = ModalityConv(3, 5, normalization="mean", combine="add")
    sage = SAGEConv(3, 5, aggr="mean")
    with torch.no_grad():
        sage.lin_l.weight.copy_(ours.lin_neigh.weight)
        sage.lin_l.bias.copy_(ours.lin_neigh.bias)
        sage.lin_r.weight.copy_(ours.lin_self.weight)
    assert torch.allclose(ours(x, EDGE_INDEX), sage(x, EDGE_INDEX), atol=1e-6)


def test_to_hetero():
    class GNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ModalityConv(-1, 8)
            self.conv2 = ModalityConv(8, 8)

        def forward(self, x, edge_index):
            return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    data = HeteroData()
    data["user"].x = torch.randn(3, 4)
    data["item"].x = torch.randn(5, 6)
    data["user", "interacts", "item"].edge_index = torch.tensor([[0, 1, 2, 2], [0, 1, 4, 3]])
    data["item", "rev_interacts", "user"].edge_index = torch.tensor([[0, 1, 4, 3], [0, 1, 2, 2]])
    model = to_hetero(GNN(), data.metadata(), aggr="sum")
    out = model(data.x_dict, data.edge_index_dict)
    assert out["user"].shape == (3, 8) and out["item"].shape == (5, 8)


def test_compile_matches_eager():
    conv = ModalityConv(3, 4, cached=True)
    x = torch.randn(4, 3)
    assert torch.allclose(torch.compile(conv)(x, EDGE_INDEX), conv(x, EDGE_INDEX), atol=1e-6)


@pytest.mark.skipif(not WITH_TORCH_SPARSE, reason="torch_sparse is not installed (optional)")
def test_sparse_tensor_input():
    from torch_sparse import SparseTensor

    conv = ModalityConv(3, 4)
    x = torch.randn(4, 3)
    adj_t = SparseTensor(row=EDGE_INDEX[1], col=EDGE_INDEX[0], sparse_sizes=(4, 4))
    assert torch.allclose(conv(x, adj_t), conv(x, EDGE_INDEX), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fast_path_matches_cpu():
    conv = ModalityConv(3, 4, normalization="gcn")
    x = torch.randn(4, 3)
    ref = run(conv, x, EDGE_INDEX)
    gpu = conv.cuda()
    adj = normalized_adjacency(EDGE_INDEX.cuda(), (4, 4), "gcn")
    pre = ModalityConv(3, 4, normalization="gcn", normalize=False).cuda()
    pre.load_state_dict(gpu.state_dict())
    out = run(pre, x.cuda(), adj)
    assert torch.allclose(ref[0], out[0].cpu(), atol=1e-5) and torch.allclose(
        ref[1], out[1].cpu(), atol=1e-5
    )
