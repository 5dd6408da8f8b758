"""Load your own interaction log and feature files into mmgraph's graph.

Writes a small made-up shop log (string user / item ids, timestamps) and two feature files into a
temporary folder, then loads it with a temporal per-user split and prints what came out.  Replace
the paths with your own files.

    python examples/custom_data.py
"""

import tempfile
from pathlib import Path

import numpy as np

from mmgraph.data import format_summary, load_generic, summarize, to_hetero


def write_example(folder: Path) -> tuple[Path, dict[str, Path], Path]:
    rng = np.random.default_rng(0)
    items = [f"sku-{k:04d}" for k in range(200)]
    rows = ["user_id,item_id,timestamp"]
    for u in range(50):
        for t, k in enumerate(rng.choice(200, size=rng.integers(5, 30), replace=False)):
            rows.append(f"customer{u},{items[k]},{1_700_000_000 + 3600 * t}")
    (folder / "log.csv").write_text("\n".join(rows) + "\n")
    (folder / "items.txt").write_text("\n".join(items) + "\n")  # raw id of each feature row
    np.save(folder / "image.npy", rng.normal(size=(200, 64)).astype(np.float32))
    np.save(folder / "text.npy", rng.normal(size=(200, 32)).astype(np.float32))
    return (
        folder / "log.csv",
        {"image": folder / "image.npy", "text": folder / "text.npy"},
        folder / "items.txt",
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        log, features, index = write_example(Path(tmp))
        rec = load_generic(log, features, item_index=index, split="temporal", name="shop")
        print(format_summary(summarize(rec)))
        data = to_hetero(rec)
        u, i = data["user", "interacts", "item"].test_edge_index[:, 0].tolist()
        print(
            f"\nfirst test interaction: user {data.user_ids[u].item()!r} -> item {data.item_ids[i].item()!r}"
        )
