"""MetaFusion inside a GNN you write yourself from stock PyG parts.

A LightGCN-style recommender (PyG's ``LGConv``) whose item embeddings are enriched by
mmgraph's ``MetaFusion``: each item's visual / acoustic / textual features are fused by a small
network whose weights are generated from that item's own features.  Trained with BPR for a few
epochs on the SYNTHETIC TikTok stand-in, then evaluated by full-ranking Recall@20 on the test
split (training items masked).  Runs in about a minute on a 2-core CPU.

    python examples/metafusion_in_your_gnn.py [--epochs 30] [--fusion meta|static]
"""

import argparse
import time

import torch
from torch import Tensor
from torch_geometric.nn import LGConv
from torch_geometric.utils import to_undirected

from mmgraph.data import load_dataset
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking
from mmgraph.nn import BagOfWordsEncoder, MetaFusion, StaticFusion
from mmgraph.nn.losses import bpr_loss
from mmgraph.train.negatives import sample_negatives


class FusedLightGCN(torch.nn.Module):
    def __init__(
        self,
        num_users: int,
        num_items: int,
        modality_dims: dict,
        bag_vocab: dict,
        dim: int = 64,
        num_layers: int = 2,
        fusion: str = "meta",
    ):
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        # TikTok's text comes as (item, word id) pairs: a learned mean of word embeddings
        self.text = torch.nn.ModuleDict({m: BagOfWordsEncoder(v, 32) for m, v in bag_vocab.items()})
        modality_dims = dict(modality_dims) | {m: 32 for m in bag_vocab}
        self.user = torch.nn.Embedding(num_users, dim)
        self.item = torch.nn.Embedding(num_items, dim)
        fusion_cls = MetaFusion if fusion == "meta" else StaticFusion
        self.fusion = fusion_cls(modality_dims, dim, hidden_channels=[64])  # the drop-in layer
        self.convs = torch.nn.ModuleList([LGConv() for _ in range(num_layers)])
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)

    def forward(self, features: dict, bags: dict, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        inputs = dict(features) | {m: enc(bags[m], self.num_items) for m, enc in self.text.items()}
        items = self.item.weight + self.fusion(inputs)  # per-item fused content vector
        x = torch.cat([self.user.weight, items])
        out = x / (len(self.convs) + 1)
        for conv in self.convs:
            x = conv(x, edge_index)
            out = out + x / (len(self.convs) + 1)
        return out[: self.num_users], out[self.num_users :]


def recall_at_20(user: Tensor, item: Tensor, train: UserItemSets, test: UserItemSets) -> float:
    """mmgraph's full-ranking evaluation: all items scored, training items masked to -inf."""
    return full_ranking(lambda users: user[users] @ item.t(), item.size(0), test, [train], ks=[20])[
        "recall@20"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fusion", choices=["meta", "static"], default="meta")
    parser.add_argument("--scale", type=float, default=0.05)
    args = parser.parse_args()
    torch.manual_seed(0)

    data = load_dataset("tiktok", synthetic=True, scale=args.scale)
    store = data["user", "interacts", "item"]
    U, I = data["user"].num_nodes, data["item"].num_nodes
    train, test = store.edge_index, store.test_edge_index
    edge_index = to_undirected(torch.stack([train[0], train[1] + U]), num_nodes=U + I)
    train_sets, test_sets = UserItemSets(train, U, I), UserItemSets(test, U, I)
    features = {m: data["item"][m] for m in data.modalities if m not in data.bag_vocab}
    bags = {m: data["item"][f"{m}_bag"] for m in data.bag_vocab}
    print(
        f"SYNTHETIC TikTok stand-in: {U:,} users, {I:,} items, {train.size(1):,} training interactions"
    )

    model = FusedLightGCN(
        U, I, {m: x.size(1) for m, x in features.items()}, data.bag_vocab, fusion=args.fusion
    )
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(train.size(1))
        total = 0.0
        for batch in perm.split(4096):
            u, pos = train[0, batch], train[1, batch]
            neg = sample_negatives(train_sets, u, 1, gen)  # [B, 1], never a training item of u
            user, item = model(features, bags, edge_index)
            pos_score, neg_score = (
                (user[u] * item[pos]).sum(-1),
                (user[u, None] * item[neg]).sum(-1),
            )
            loss = (
                bpr_loss(pos_score, neg_score)
                + 1e-4 * (user[u].pow(2).sum() + item[pos].pow(2).sum()) / batch.numel()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * batch.numel()
        if epoch % 10 == 0 or epoch == args.epochs:
            model.eval()
            with torch.no_grad():
                r20 = recall_at_20(*model(features, bags, edge_index), train_sets, test_sets)
            print(
                f"epoch {epoch:3d}  BPR loss {total / train.size(1):.4f}  test Recall@20 {r20:.4f}  "
                f"({time.perf_counter() - start:.0f} s)"
            )
    print(f"{args.fusion} fusion, SYNTHETIC data: final test Recall@20 = {r20:.4f}")


if __name__ == "__main__":
    main()
