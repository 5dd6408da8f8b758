import pytest
import torch

from mmgraph.nn import CPMetaLinear, MetaLinear

N, IN, OUT, K, R = 5, 7, 4, 3, 2


def explicit(layer, x, s):
    """The per-item weight product, materialized: y_i = x_i W_i + b."""
    return torch.einsum("ni,nio->no", x, layer.item_weights(s)) + layer.lin.bias


def grads(layer, fn, x, s, g):
    layer.zero_grad()
    x, s = x.clone().requires_grad_(), s.clone().requires_grad_()
    (fn(x, s) * g).sum().backward()
    return [x.grad, s.grad] + [p.grad.clone() for p in layer.parameters()]


@pytest.mark.parametrize("make", [lambda: MetaLinear(IN, OUT, K), lambda: CPMetaLinear(IN, OUT, K, R)])
def test_equals_explicit_per_item_product(make):
    torch.manual_seed(0)
    layer = make()
    x, s, g = torch.randn(N, IN), torch.randn(N, K), torch.randn(N, OUT)
    assert torch.allclose(layer(x, s), explicit(layer, x, s), atol=1e-5)
    ours = grads(layer, layer, x, s, g)
    ref = grads(layer, lambda a, b: explicit(layer, a, b), x, s, g)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-5)


def test_items_get_different_weights():
    torch.manual_seed(0)
    layer = MetaLinear(IN, OUT, K)
    x = torch.randn(1, IN).expand(2, IN)
    s = torch.randn(2, K)
    y = layer(x, s)
    assert not torch.allclose(y[0], y[1])  # same input, different meta vector


def test_cp_equals_full_layer_with_rebuilt_basis():
    torch.manual_seed(0)
    cp, full = CPMetaLinear(IN, OUT, K, R), MetaLinear(IN, OUT, K)
    full.lin.load_state_dict(cp.lin.state_dict())
    with torch.no_grad():
        full.meta_weight.copy_(cp.basis().reshape(IN, K * OUT))
    x, s = torch.randn(N, IN), torch.randn(N, K)
    assert torch.allclose(cp(x, s), full(x, s), atol=1e-5)


def test_cp_parameters_grow_with_rank_not_with_in_times_out_times_k():
    count = lambda m: sum(p.numel() for p in m.parameters())
    static = 2276 * 1024 + 1024
    assert count(CPMetaLinear(2276, 1024, 5, rank=16)) == static + 16 * (2276 + 1024 + 5)
    assert count(MetaLinear(2276, 1024, 5)) == static + 2276 * 5 * 1024


def test_zero_meta_vector_is_the_static_layer():
    layer = CPMetaLinear(IN, OUT, K, R)
    x = torch.randn(N, IN)
    assert torch.allclose(layer(x, torch.zeros(N, K)), layer.lin(x))


def test_shape_errors():
    layer = MetaLinear(IN, OUT, K)
    with pytest.raises(ValueError, match="meta has 2 channels"):
        layer(torch.randn(N, IN), torch.randn(N, 2))
    with pytest.raises(ValueError, match="expected x"):
        layer(torch.randn(N, IN), torch.randn(N + 1, K))
    with pytest.raises(ValueError, match="rank"):
        CPMetaLinear(IN, OUT, K, rank=0)


def test_repr_and_reset():
    layer = CPMetaLinear(IN, OUT, K, R)
    assert repr(layer) == "CPMetaLinear(7, 4, meta_channels=3, rank=2)"
    before = layer.factor_in.clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.factor_in)
