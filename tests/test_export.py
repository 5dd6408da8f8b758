"""`export`: embeddings, id maps and MetaMMF's meta vectors / fusion outputs as plain files."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmgraph.cli import main
from mmgraph.errors import MMGraphError
from mmgraph.runs.api import load_run, resolve_config, train_run
from mmgraph.runs.export import export


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = resolve_config(
        "tiktok",
        **{"data.synthetic": True, "data.scale": 0.02, "train.epochs": 1, "train.device": "cpu"},
    )
    return train_run(cfg, tmp_path_factory.mktemp("runs"), quiet=True)[0]


def test_exported_arrays_are_what_the_model_scores_with(run_dir, tmp_path):
    exp = load_run(run_dir)
    names = export(exp, tmp_path / "out")
    assert names == [
        "export.json",
        "item_dynamic_share.npy",
        "item_embeddings.npy",
        "item_fused.npy",
        "item_ids.txt",
        "item_meta.npy",
        "user_embeddings.npy",
        "user_ids.txt",
    ]
    with torch.no_grad():
        user, item = exp.model(exp.graph)
        meta = exp.model.fuse(exp.graph)[1]
    np.testing.assert_allclose(
        np.load(tmp_path / "out/user_embeddings.npy"), user.numpy(), atol=1e-6
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "out/item_embeddings.npy"), item.numpy(), atol=1e-6
    )
    np.testing.assert_allclose(np.load(tmp_path / "out/item_meta.npy"), meta.numpy(), atol=1e-6)
    # per item and meta layer: ||h_i ΔW_i|| / ||h_i W||, averaged as the run's diagnostics report it
    shares = np.load(tmp_path / "out/item_dynamic_share.npy")
    assert (
        shares.shape == (exp.graph.num_items, len(exp.model.fusion.layers)) and (shares > 0).all()
    )
    np.testing.assert_allclose(
        shares.mean(0), exp.model.diagnostics(exp.graph)["dynamic_share"], atol=1e-5
    )
    fused = np.load(tmp_path / "out/item_fused.npy")
    assert fused.shape == (exp.graph.num_items, exp.model.fusion.out_channels)
    lines = (tmp_path / "out/item_ids.txt").read_text().splitlines()
    assert len(lines) == exp.graph.num_items and lines[:2] == ["0", "1"]
    info = json.loads((tmp_path / "out/export.json").read_text())
    assert info["synthetic"] is True and info["shapes"]["item_meta"] == list(meta.shape)


def test_export_never_overwrites(run_dir, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    out = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "taken")])
    assert out.exit_code == 2 and "exports never overwrite" in out.output
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    with pytest.raises(MMGraphError):
        export(load_run(run_dir), tmp_path / "taken")


def test_cli_export_and_bad_run_folder(run_dir, tmp_path):
    out = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "new")])
    assert out.exit_code == 0 and "item_meta.npy" in out.output
    out = CliRunner().invoke(main, ["export", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert out.exit_code == 2 and "not a run folder" in out.output and not (tmp_path / "x").exists()
