"""`recommend`: top-K items for users given by their source ids."""

import csv
import io
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmgraph.cli import main
from mmgraph.errors import MMGraphError
from mmgraph.runs.api import load_run, resolve_config, train_run
from mmgraph.runs.recommend import recommend


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = resolve_config(
        "tiktok",
        **{"data.synthetic": True, "data.scale": 0.02, "train.epochs": 1, "train.device": "cpu"},
    )
    return train_run(cfg, tmp_path_factory.mktemp("runs"), quiet=True)[0]


def cli(*args):
    return CliRunner().invoke(main, ["recommend", *map(str, args)])


def test_top_k_is_sorted_and_leaves_out_known_items(run_dir):
    exp = load_run(run_dir)
    rows = recommend(exp, ["0", "5"], k=5)
    assert [(r["user"], r["rank"]) for r in rows] == [
        (u, k) for u in ("0", "5") for k in range(1, 6)
    ]
    for user in (0, 5):
        mine = [r for r in rows if r["user"] == str(user)]
        assert [r["score"] for r in mine] == sorted((r["score"] for r in mine), reverse=True)
        known = set().union(
            *(s.rows(torch.tensor([user]))[1].tolist() for s in exp.splits.values())
        )
        assert known and not known & {r["item"] for r in mine}


def test_include_seen_ranks_every_item(run_dir):
    exp = load_run(run_dir)
    exp.model.eval()
    with torch.no_grad():
        user, item = exp.model(exp.graph)
        best = torch.topk(user[3] @ item.t(), 3).indices.tolist()
    assert [r["item"] for r in recommend(exp, ["3"], k=3, exclude_seen=False)] == best


def test_source_ids_map_both_ways(run_dir):
    exp = load_run(run_dir)
    plain = recommend(exp, ["2"], k=4)
    exp.raw_ids = (
        np.array([f"u{i}" for i in range(exp.graph.num_users)]),
        np.array([f"i{i}" for i in range(exp.graph.num_items)]),
    )
    named = recommend(exp, ["u2"], k=4)
    assert [r["item"] for r in named] == [f"i{r['item']}" for r in plain]
    with pytest.raises(MMGraphError, match="user '2' is not in"):
        recommend(exp, ["2"])


def test_cli_csv_json_and_users_file(run_dir, tmp_path):
    out = cli(run_dir, "--user", 0, "--k", 3)
    assert out.exit_code == 0, out.output
    table = list(csv.DictReader(io.StringIO(out.output)))
    assert len(table) == 3 and table[0]["user"] == "0" and table[0]["rank"] == "1"
    users = tmp_path / "users.txt"
    users.write_text("1\n\n2\n")
    out = cli(run_dir, "--users-file", users, "--k", 2, "--format", "json")
    assert out.exit_code == 0, out.output
    assert [(r["user"], r["rank"]) for r in json.loads(out.output)] == [
        ("1", 1),
        ("1", 2),
        ("2", 1),
        ("2", 2),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "99999"], "user '99999' is not in tiktok"),
        (["--user", "abc"], "user 'abc' is not in tiktok"),
        (["--user", "0", "--k", "0"], "--k must be at least 1"),
        (["--users-file", "/nonexistent/users.txt"], "no such file"),
        ([], "give --user ID"),
    ],
)
def test_bad_input_exits_2_with_one_line(run_dir, args, message):
    out = cli(run_dir, *args)
    assert out.exit_code == 2 and message in out.output
    assert "Traceback" not in out.output


def test_not_a_run_folder(tmp_path):
    out = cli(tmp_path, "--user", 0)
    assert out.exit_code == 2 and "not a run folder" in out.output
