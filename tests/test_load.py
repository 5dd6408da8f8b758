"""Load: full-ranking evaluation over a million users (ten million with ``pytest --heavy``) keeps
its memory to one user batch."""

from pathlib import Path

import pytest
import torch

from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmHWM")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


@pytest.mark.parametrize("users", [1_000_000, pytest.param(10_000_000, marks=pytest.mark.heavy)])
def test_many_users_are_ranked_in_bounded_memory(users):
    try:
        reset_peak()
    except OSError:
        pytest.skip("needs Linux /proc/self/clear_refs to measure the peak")
    items, batch = 500, 8_192
    held = UserItemSets(
        torch.stack([torch.arange(users), torch.arange(users) % items]), users, items
    )
    train = UserItemSets(
        torch.stack([torch.arange(users), (torch.arange(users) + 1) % items]), users, items
    )
    asked = []

    def fake_scores(u):  # a "model" whose scores favour item (u mod items): every user hits
        asked.append(u.numel())
        s = torch.rand(u.numel(), items)
        s[torch.arange(u.numel()), u % items] = 2.0
        return s

    reset_peak()
    before = peak_rss_mib()
    metrics = full_ranking(fake_scores, items, held, [train], ks=[20], batch_size=batch)
    grown = peak_rss_mib() - before
    assert metrics["users"] == users and metrics["recall@20"] == 1.0
    assert max(asked) == batch and sum(asked) == users
    # one batch of scores is 8,192 x 500 x 4 B = 16 MiB (a million users at once: 1.9 GiB)
    assert grown < 256, f"peak RSS grew {grown:.0f} MiB"
