"""Forward+backward time and peak memory of the meta layers at the paper's first fusion layer.

MetaMMF's first fusion layer maps the concatenated MovieLens features (2276-d) to 1024 with a
meta vector of k = 5 (CP rank 16).  Three ways to compute it for N items:

* ``explicit``: materialize every item's weights W_i = W + sum_j s_ij T_j as [N, 2276, 1024]
  and multiply (what the authors' code does; 55.8 GB for one layer on MovieLens);
* ``MetaLinear``: h W + einsum(s, (h T).view(N, k, out)), never forming [N, in, out];
* ``CPMetaLinear``: h W + ((h A) * (s C^T)) B.

Each row is the median of ``--runs`` runs of forward + backward (loss = output sum); peak
memory is the extra memory over the inputs during the step (CPU: VmHWM, CUDA: allocator peak).
The explicit form is run only where its weights fit ``--explicit-budget-gb``; elsewhere the row
gives the memory it would need.

    python benchmarks/meta_linear_bench.py [--device cpu|cuda] [--runs 3] [--items 1000,10000,86483]
"""

from __future__ import annotations

import argparse

import torch
from _timing import measure

from mmgraph.nn import CPMetaLinear, MetaLinear

IN, OUT, K, RANK = 2276, 1024, 5, 16


def explicit_step(layer: MetaLinear, x, s):
    W = layer.item_weights(s)  # [N, IN, OUT]
    y = torch.bmm(x.unsqueeze(1), W).squeeze(1) + layer.lin.bias
    y.sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--items", default="1000,10000,86483")
    parser.add_argument(
        "--explicit-items",
        default="100",
        help="extra small N at which the explicit form is measured",
    )
    parser.add_argument("--explicit-budget-gb", type=float, default=4.0)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    full = MetaLinear(IN, OUT, K).to(device)
    cp = CPMetaLinear(IN, OUT, K, RANK).to(device)
    sizes = sorted({int(n) for n in (args.items + "," + args.explicit_items).split(",") if n})
    print(
        f"layer {IN}->{OUT}, k={K}, CP rank {RANK}, device {device} "
        f"({torch.get_num_threads()} CPU threads); median of {args.runs} fwd+bwd runs\n"
    )
    print("| N items | layer | median s | min s | max s | peak extra MiB | x CPMetaLinear time |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        x = torch.randn(n, IN, device=device, requires_grad=True)
        s = torch.randn(n, K, device=device, requires_grad=True)
        rows = {}
        for name, layer in (("CPMetaLinear", cp), ("MetaLinear", full)):
            rows[name] = measure(
                lambda layer=layer, x=x, s=s: layer(x, s).sum().backward(), device, args.runs
            )
        need_gb = 2 * n * IN * OUT * 4 / 2**30  # weights + their gradient
        if need_gb <= args.explicit_budget_gb:
            rows["explicit per-item weights"] = measure(
                lambda x=x, s=s: explicit_step(full, x, s), device, args.runs
            )
        else:
            rows["explicit per-item weights"] = None
        base = rows["CPMetaLinear"][0]
        for name, r in rows.items():
            if r is None:
                print(
                    f"| {n:,} | {name} | infeasible | | | needs >= {need_gb * 1024:,.0f} "
                    f"(weights + grad) | |"
                )
            else:
                print(
                    f"| {n:,} | {name} | {r[0]:.3f} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:,.0f} | "
                    f"{r[0] / base:.2f} |"
                )
        del x, s


if __name__ == "__main__":
    main()
