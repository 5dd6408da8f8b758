"""Cold-start items: the cold split, training that never sees them, ranking among them,
MetaMMF's default ID vector, the content-kNN baseline and `recommend --new-items`."""

import csv
import io
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmgraph.cli import main
from mmgraph.data import load_generic, load_records
from mmgraph.data.formats.split_npz import load_split_npz
from mmgraph.data.splits import cold_item_split
from mmgraph.errors import DataError, MMGraphError
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking
from mmgraph.models import ContentKNN, MetaMMF, RecGraph
from mmgraph.nn.knn import cosine_knn
from mmgraph.runs.api import load_run, resolve_config, train_run
from mmgraph.runs.recommend import recommend_new
from mmgraph.train.negatives import sample_negatives


def pairs_set(pairs):
    return set(map(tuple, np.asarray(pairs).T.tolist()))


# The split ----------------------------------------------------------------------------------
def test_cold_items_leave_training_entirely_and_warm_items_keep_their_split():
    rec = load_records("kwai", synthetic=True, scale=0.02, seed=3)
    cold = cold_item_split(rec, 0.2, seed=3)
    items = np.unique(np.concatenate([rec.train, rec.val, rec.test], axis=1)[1])
    assert cold.cold_items.size == round(0.2 * items.size)
    is_cold = np.isin(np.arange(rec.num_items), cold.cold_items)
    assert not is_cold[cold.train[1]].any()
    # every interaction of a cold item is held out, in exactly one split per item
    val_cold = set(cold.val[1][is_cold[cold.val[1]]].tolist())
    test_cold = set(cold.test[1][is_cold[cold.test[1]]].tolist())
    assert not val_cold & test_cold and abs(len(val_cold) - len(test_cold)) <= 0.2 * len(val_cold)
    everything = pairs_set(np.concatenate([rec.train, rec.val, rec.test], axis=1))
    held_cold = pairs_set(cold.val[:, is_cold[cold.val[1]]]) | pairs_set(
        cold.test[:, is_cold[cold.test[1]]]
    )
    has_train = set(cold.train[0].tolist())
    assert held_cold == {p for p in everything if is_cold[p[1]] and p[0] in has_train}
    # warm items: the same training pairs as before
    assert pairs_set(cold.train) == {p for p in pairs_set(rec.train) if not is_cold[p[1]]}
    assert "cold items" in cold.split_protocol and cold.features.keys() == rec.features.keys()


def test_generic_loader_cold_option_and_the_cache_keep_the_cold_items(tmp_path):
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 600), rng.integers(0, 40, 600)
    np.savetxt(
        tmp_path / "interactions.csv",
        np.stack([users, items], 1),
        fmt="%d",
        delimiter=",",
        header="user,item",
        comments="",
    )
    np.save(tmp_path / "visual.npy", rng.normal(size=(40, 4)).astype(np.float32))
    direct = load_generic(
        tmp_path / "interactions.csv", {"visual": tmp_path / "visual.npy"}, cold_items=0.25
    )
    assert direct.cold_items.size == 10
    first = load_records("toy", tmp_path, cold_items=0.25)
    again = load_records("toy", tmp_path, cold_items=0.25)  # from the cache
    assert np.array_equal(first.cold_items, direct.cold_items)
    assert np.array_equal(again.cold_items, first.cold_items) and np.array_equal(
        again.test, first.test
    )
    assert load_records("toy", tmp_path).cold_items is None
    with pytest.raises(DataError, match="between 0 and 1"):
        load_records("toy", tmp_path, cold_items=1.5)


def test_a_fixed_split_brings_its_own_cold_items(tmp_path):
    arrays = {
        "train_user": [0, 0, 1, 2],
        "train_item": [0, 1, 1, 2],
        "val_full_user": [0, 1],
        "val_full_item": [3, 2],
        "test_full_user": [1, 2],
        "test_full_item": [4, 0],
        "val_cold_user": [0],
        "val_cold_item": [3],
        "test_cold_user": [1],
        "test_cold_item": [4],
        "val_warm_user": [1],
        "val_warm_item": [2],
        "test_warm_user": [2],
        "test_warm_item": [0],
        "shape": [3, 5],
    }
    np.savez(tmp_path / "interactions.npz", **{k: np.array(v) for k, v in arrays.items()})
    assert load_split_npz(tmp_path).cold_items.tolist() == [3, 4]
    with pytest.raises(DataError, match="fixed split; drop --cold-items"):
        load_records("npz", tmp_path, cold_items=0.3)


# Training and evaluation --------------------------------------------------------------------
def test_negatives_never_hit_excluded_items():
    train = UserItemSets(torch.tensor([[0, 1], [0, 1]]), 2, 10)
    exclude = torch.zeros(10, dtype=torch.bool)
    exclude[5:] = True
    neg = sample_negatives(
        train, torch.tensor([0, 1] * 50), 4, torch.Generator().manual_seed(0), exclude=exclude
    )
    assert neg.max() < 5 and not train.contains(torch.tensor([0, 1] * 50).view(-1, 1), neg).any()


def test_ranking_among_candidates_only():
    # user 0 holds out item 3; items 0..1 outscore it but are not candidates
    scores = torch.tensor([[9.0, 8.0, 1.0, 2.0, 0.0]])
    held = UserItemSets(torch.tensor([[0], [3]]), 1, 5)
    cold = torch.tensor([False, False, True, True, True])
    everything = full_ranking(lambda u: scores[u], 5, held, [], ks=[1])
    among = full_ranking(lambda u: scores[u], 5, held, [], ks=[1], candidates=cold)
    assert everything["recall@1"] == 0.0 and among["recall@1"] == 1.0


def test_cosine_knn_among_a_subset():
    x = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    index, sim = cosine_knn(x, 1, among=torch.tensor([0, 2]))
    assert index.flatten().tolist() == [0, 0, 2, 2]
    assert torch.allclose(sim[:, 0], torch.nn.functional.cosine_similarity(x, x[[0, 0, 2, 2]]))


def test_content_knn_scores_by_hand():
    # items 0, 1 trained (user 0 has item 0, user 1 item 1); items 2, 3 cold
    x = torch.tensor([[1.0, 0], [0, 1], [1, 1], [1, -1]])
    g = RecGraph(2, 4, torch.tensor([[0, 1], [0, 1]]), {"visual": x})
    model = ContentKNN.from_graph(g, k=1)
    user, item = model(g)
    scores = model.full_scores(user, item, torch.tensor([0, 1]))
    c = 2**-0.5
    # item 2 ties between 0 and 1 (topk keeps one); item 3's neighbour is item 0 (cos +c vs -c)
    nearest2 = int(cosine_knn(x, 1, among=torch.tensor([0, 1]))[0][2])
    expected = torch.tensor([[1.0, 0, c * (nearest2 == 0), c], [0, 1, c * (nearest2 == 1), 0]])
    assert torch.allclose(scores, expected)
    assert torch.allclose(
        model.score(user, item, torch.tensor([0, 1]), torch.tensor([3, 1])), torch.tensor([c, 1.0])
    )


def tiny_cold_graph():
    """3 users, 5 items; item 4 has no edges and is cold; 2 dense modalities."""
    torch.manual_seed(0)
    cold = torch.tensor([False, False, False, False, True])
    return RecGraph(
        3,
        5,
        torch.tensor([[0, 0, 1, 2, 2], [0, 1, 2, 3, 1]]),
        {"visual": torch.randn(5, 6), "acoustic": torch.randn(5, 3)},
        cold=cold,
    )


@pytest.mark.parametrize("variant", ["design", "paper-gcn", "paper-mf"])
def test_new_items_leave_known_outputs_alone_and_match_a_cold_item(variant):
    g = tiny_cold_graph()
    model = MetaMMF.from_graph(
        g, variant=variant, fusion_hidden=[6], hidden_dim=4, fused_dim=3, id_dim=2
    ).eval()
    torch.nn.init.normal_(model.default_item_id)
    user, item = model(g)
    twin = {
        m: x[[4, 4]] * torch.tensor([[1.0], [2.0]]) for m, x in g.features.items()
    }  # item 4, and scaled
    bigger = g.with_new_items(twin)
    assert bigger.num_items == 7 and bigger.cold.tolist() == [False] * 4 + [True] * 3
    user2, item2 = model(bigger)
    assert torch.allclose(user2, user, atol=1e-6) and torch.allclose(item2[:5], item, atol=1e-6)
    assert torch.allclose(item2[5], item[4], atol=1e-6)  # the new twin of the cold item
    assert not torch.allclose(item2[6], item[4])
    # the ID part of a cold or new item is the default vector
    assert torch.equal(model.item_id_rows(bigger)[4:], model.default_item_id.expand(3, -1))
    # an item embedded alone (the cold-start training step) gets the vector a cold item gets
    alone = model(g.isolated(torch.tensor([4, 1])))[1]
    assert torch.allclose(alone[0], item[4], atol=1e-6)
    assert torch.allclose(
        alone[1],
        model(g.with_new_items({m: x[[1]] for m, x in g.features.items()}))[1][5],
        atol=1e-6,
    )


@pytest.mark.parametrize("variant", ["design", "paper-gcn"])
def test_id_dropout_scores_a_share_of_the_batch_as_cold_items(variant, monkeypatch):
    g = tiny_cold_graph()
    g.cold = None
    users, pos, negs = (
        torch.tensor([0, 1, 2]),
        torch.tensor([0, 2, 3]),
        torch.tensor([[4], [4], [0]]),
    )
    frozen = MetaMMF.from_graph(
        g, variant=variant, fusion_hidden=[6], hidden_dim=4, fused_dim=3, id_dim=2
    )
    frozen.batch_loss(g, users, pos, negs).backward()
    assert frozen.default_item_id.grad is None  # no cold item, no dropout: the default is not used
    model = MetaMMF.from_graph(
        g,
        variant=variant,
        fusion_hidden=[6],
        hidden_dim=4,
        fused_dim=3,
        id_dim=2,
        id_dropout=0.5,
        dropout=0.0,
        graph_dropout=[0.0, 0.0] if variant == "paper-gcn" else None,
    )
    # every item "dropped": the loss is BPR on the items' cold-start vectors
    monkeypatch.setattr(torch, "rand", lambda n, device=None: torch.zeros(n))
    loss = model.batch_loss(g, users, pos, negs)
    user, _ = model(g)
    cold = model(g.isolated(torch.arange(5)))[1]
    expected = model.bpr(user, cold, users, pos, negs) + model.regularization(
        users, torch.cat([pos, negs.flatten()])
    )
    assert torch.allclose(loss, expected)
    loss.backward()
    # the feature path learns from the cold-scored triples (the default ID vector only through
    # nonlinear graph layers: with the design variant's linear smoothing a positive and its
    # negatives all carry it, so it cancels in every BPR difference)
    assert model.fusion.layers[0].lin.weight.grad.abs().sum() > 0
    if variant == "design":
        assert model.default_item_id.grad.abs().max() < 1e-6
    model.eval()  # evaluation never drops
    assert torch.allclose(
        model.batch_loss(g, users, pos, negs),
        model.bpr(*model(g), users, pos, negs)
        + model.regularization(users, torch.cat([pos, negs.flatten()])),
    )
    with pytest.raises(ValueError, match="id_dropout"):
        MetaMMF.from_graph(g, id_dropout=1.0)


# End to end ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cold_run(tmp_path_factory):
    cfg = resolve_config(
        "kwai",
        sets=["id_dropout=0.3"],
        **{
            "data.synthetic": True,
            "data.scale": 0.02,
            "data.cold_items": 0.2,
            "train.epochs": 2,
            "train.device": "cpu",
            "train.select_on": "valid_cold",
        },
    )
    return train_run(cfg, tmp_path_factory.mktemp("runs"), quiet=True)


def test_a_cold_run_reports_cold_metrics_and_selects_on_them(cold_run):
    run_dir, metrics = cold_run
    assert metrics["test_cold"]["users"] > 0 and 0 <= metrics["test_cold"]["recall@20"] <= 1
    assert all("valid_cold" in h for h in metrics["history"])
    best = max(metrics["history"], key=lambda h: h["valid_cold"]["recall@20"])
    assert metrics["best_epoch"] == best["epoch"]
    assert (
        "cold items" in metrics["protocol"]
        and "selection on validation cold items" in metrics["protocol"]
    )
    out = CliRunner().invoke(main, ["evaluate", str(run_dir), "--split", "test_cold"])
    assert out.exit_code == 0, out.output
    assert f"{metrics['test_cold']['recall@20']:.4f}" in out.output


def test_select_on_cold_needs_cold_items(tmp_path):
    out = CliRunner().invoke(
        main,
        [
            "train",
            "kwai",
            "--synthetic",
            "--scale",
            "0.02",
            "--epochs",
            "1",
            "--set",
            "select_on=valid_cold",
            "--out",
            str(tmp_path),
        ],
    )
    assert out.exit_code == 2 and "no cold items" in out.output and not list(tmp_path.iterdir())


def write_new_items(folder, rec, rows):
    folder.mkdir()
    for m, x in rec.features.items():
        np.save(folder / f"{m}.npy", np.asarray(x)[rows])


def pca_run(tmp_path):
    cfg = resolve_config(
        "kwai",
        sets=["data.pca=8"],
        **{
            "data.synthetic": True,
            "data.scale": 0.02,
            "data.cold_items": 0.2,
            "train.epochs": 1,
            "train.device": "cpu",
        },
    )
    return train_run(cfg, tmp_path / "runs", quiet=True)


@pytest.mark.parametrize("run", ["standardized", "standardized, then PCA to 8 dims"])
def test_recommend_new_items_scores_them_as_the_run_scores_its_cold_items(cold_run, tmp_path, run):
    run_dir, _ = cold_run if run == "standardized" else pca_run(tmp_path)
    exp = load_run(run_dir)
    d = exp.config.data
    raw = load_records(
        d.name, synthetic=True, scale=d.scale, seed=0, cold_items=d.cold_items, normalize="none"
    )
    cold = raw.cold_items[:7]
    write_new_items(tmp_path / "new", raw, cold)
    (tmp_path / "new" / "item_index.txt").write_text("\n".join(f"video{c}" for c in cold))
    rows = recommend_new(exp, ["0", "4"], tmp_path / "new", k=7)
    with torch.no_grad():
        exp.model.eval()
        user, item = exp.model(exp.graph)
        expected = exp.model.full_scores(user, item, torch.tensor([0, 4]))[
            :, torch.from_numpy(cold)
        ]
    for n, u in enumerate(("0", "4")):
        mine = [r for r in rows if r["user"] == u]
        got = {r["item"]: r["score"] for r in mine}
        want = {f"video{c}": s for c, s in zip(cold, expected[n].tolist())}
        assert got.keys() == want.keys()
        assert all(abs(got[i] - want[i]) < 1e-4 for i in got)  # the run's statistics (and PCA)
        assert [r["score"] for r in mine] == sorted(got.values(), reverse=True)
    out = CliRunner().invoke(
        main,
        [
            "recommend",
            str(run_dir),
            "--user",
            "0",
            "--new-items",
            str(tmp_path / "new"),
            "--k",
            "3",
        ],
    )
    assert out.exit_code == 0, out.output
    table = list(csv.DictReader(io.StringIO(out.output)))
    assert len(table) == 3 and all(r["item"].startswith("video") for r in table)


def test_recommend_new_items_bad_input(cold_run, tmp_path):
    run_dir, _ = cold_run
    raw = load_records("kwai", synthetic=True, scale=0.02, seed=0, normalize="none")

    def run(folder):
        return CliRunner().invoke(
            main, ["recommend", str(run_dir), "--user", "0", "--new-items", str(folder)]
        )

    out = run(tmp_path / "absent")
    assert out.exit_code == 2 and "no such folder" in out.output
    (tmp_path / "half").mkdir()
    first = next(iter(raw.features))
    np.save(tmp_path / "half" / f"{first}.npy", raw.features[first][:3])
    out = run(tmp_path / "half")
    assert out.exit_code == 2 and "give one file per modality" in out.output
    write_new_items(tmp_path / "narrow", raw, [0, 1])
    np.save(tmp_path / "narrow" / f"{first}.npy", raw.features[first][:2, :5])
    out = run(tmp_path / "narrow")
    assert out.exit_code == 2 and "columns, the run's have" in out.output
    write_new_items(tmp_path / "nan", raw, [0, 1])
    bad = np.array(raw.features[first][:2])
    bad[1, 0] = np.nan
    np.save(tmp_path / "nan" / f"{first}.npy", bad)
    out = run(tmp_path / "nan")
    assert out.exit_code == 2 and "NaN" in out.output and "Traceback" not in out.output


def test_only_feature_models_score_new_items(tmp_path):
    cfg = resolve_config(
        "kwai",
        model="lightgcn",
        **{"data.synthetic": True, "data.scale": 0.02, "train.epochs": 1, "train.device": "cpu"},
    )
    run_dir, _ = train_run(cfg, tmp_path / "runs", quiet=True)
    with pytest.raises(MMGraphError, match="cannot score items it never trained on"):
        recommend_new(load_run(run_dir), ["0"], tmp_path)


def test_cold_items_option_on_the_cli(tmp_path):
    out = CliRunner().invoke(
        main,
        [
            "train",
            "kwai",
            "--synthetic",
            "--scale",
            "0.02",
            "--epochs",
            "1",
            "--cold-items",
            "0.2",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "cold items only" in out.output
    run = next(tmp_path.iterdir())
    assert json.loads((run / "config.json").read_text())["data"]["cold_items"] == 0.2


def test_ties_are_never_broken_by_item_id():
    # every score ties: index order would always put items 0..9 first
    n = 1000
    held = UserItemSets(torch.stack([torch.zeros(10, dtype=torch.long), torch.arange(10)]), 1, n)
    every = torch.ones(n, dtype=torch.bool)
    flat = full_ranking(lambda u: torch.zeros(u.numel(), n), n, held, [], ks=[10], candidates=every)
    assert flat["recall@10"] < 0.5  # by index it would be 1.0; at random about 0.01
    # the main ranking breaks ties in the same fixed random order as the cold path
    assert full_ranking(lambda u: torch.zeros(u.numel(), n), n, held, [], ks=[10]) == flat
    # distinct scores rank the same either way
    scores = torch.linspace(1, 0, n).unsqueeze(0)
    assert (
        full_ranking(lambda u: scores, n, held, [], ks=[10], candidates=every)["recall@10"] == 1.0
    )


def test_content_knn_reads_bags_of_words_as_their_count_vectors():
    torch.manual_seed(0)
    edges = torch.tensor([[0, 0, 1, 2, 2], [0, 1, 2, 3, 1]])
    pairs = torch.tensor([[0, 0, 1, 2, 3, 3, 4], [1, 1, 2, 0, 3, 4, 2]])
    counts = torch.zeros(5, 6).index_put_((pairs[0], pairs[1]), torch.ones(7), accumulate=True)
    visual = torch.randn(5, 3)
    bag = RecGraph(3, 5, edges, {"visual": visual}, {"textual": pairs}, {"textual": 6})
    dense = RecGraph(3, 5, edges, {"visual": visual, "textual": counts})
    assert torch.allclose(
        ContentKNN.item_vectors(bag).to_dense(), ContentKNN.item_vectors(dense), atol=1e-6
    )
    model = ContentKNN.from_graph(bag, k=2)
    users = torch.arange(3)
    assert torch.allclose(
        model.full_scores(*model(bag), users),
        model.full_scores(*model(dense), users),
        atol=1e-6,
    )
