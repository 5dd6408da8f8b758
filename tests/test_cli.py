import json

import pytest
from click.testing import CliRunner
from conftest import shared_dataset, write_mmgcn

from mmgraph.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_help_everywhere():
    for args in ([], ["datasets"], ["datasets", "list"], ["datasets", "info"]):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_list_names_every_catalog_dataset(monkeypatch, tmp_path):
    monkeypatch.setenv("MMGRAPH_DATASETS", str(tmp_path))
    write_mmgcn(tmp_path / "kwai", modalities=("visual",))
    result = run("datasets", "list")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "found (mmgcn)" in lines["kwai"]
    assert "missing, --synthetic available" in lines["movielens"] and "missing" in lines["baby"]


def test_info_synthetic_is_labelled():
    result = run("datasets", "info", "kwai", "--synthetic", "--scale", "0.02")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and "users          140" in result.output


def test_info_json(tmp_path):
    result = run(
        "datasets", "info", "tiny", "--root", str(write_mmgcn(tmp_path / "tiny")), "--json"
    )
    info = json.loads(result.output)
    assert info["users"] == 4 and info["interactions"]["train"] == 8 and info["synthetic"] is False


def test_missing_dataset_says_what_to_put_where(monkeypatch, tmp_path):
    monkeypatch.setenv("MMGRAPH_DATASETS", str(tmp_path))
    result = run("datasets", "info", "kwai")
    assert result.exit_code == 2
    assert result.output.startswith("error: kwai: no dataset files in")
    assert (
        "train.npy" in result.output
        and "feat_v.pt" in result.output
        and "--synthetic" in result.output
    )
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["datasets", "info", "nosuch"], "unknown dataset 'nosuch'"),
        (["datasets", "info", "kwai", "--synthetic", "--scale", "-1"], "--scale must be"),
        (["datasets", "info", "x", "--root", "/nonexistent/folder"], "no dataset found"),
        (
            ["datasets", "info", "kwai", "--synthetic", "--pca", "sound=3"],
            "unknown modalities sound",
        ),
        (["datasets", "info", "kwai", "--synthetic", "--split", "temporal"], "no timestamps"),
        (
            [
                "train",
                "tiktok",
                "--synthetic",
                "--scale",
                "0.02",
                "--sampler",
                "neighbor",
                "--fanout",
                "0,1,1,1",
            ],
            "numbers each >= 1 (or -1)",
        ),
        (
            [
                "train",
                "tiktok",
                "--synthetic",
                "--scale",
                "0.02",
                "--sampler",
                "neighbor",
                "--fanout",
                "a,b",
            ],
            "--fanout: train.fanout='a,b' is not a valid list",
        ),
        (
            [
                "train",
                "tiktok",
                "--synthetic",
                "--scale",
                "0.02",
                "--sampler",
                "neighbor",
                "--fanout",
                "5,5",
            ],
            "samples 2 hop(s), but metammf reads 4",
        ),
        (
            [
                "train",
                "tiktok",
                "--synthetic",
                "--scale",
                "0.02",
                "--model",
                "grcn",
                "--sampler",
                "neighbor",
            ],
            "needs the whole graph",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_debug_shows_the_traceback():
    result = run("--debug", "datasets", "info", "nosuch")
    assert result.exit_code != 0 and result.exception is not None


def test_info_real_tiktok():
    root = shared_dataset("tiktok")
    result = run("datasets", "info", "tiktok", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "users          9,308" in result.output and "items          6,710" in result.output
    assert "train 59,541 / valid 3,051 / test 6,130" in result.output


def test_split_option_on_a_fixed_split_dataset(tmp_path):
    result = run(
        "datasets",
        "info",
        "tiny",
        "--root",
        str(write_mmgcn(tmp_path / "tiny")),
        "--split",
        "random",
    )
    assert result.exit_code == 2 and "fixed train/valid/test split; drop --split" in result.output


def test_train_help_states_the_real_defaults():
    import re

    from mmgraph.models.metammf import TRAIN_DEFAULTS as METAMMF
    from mmgraph.train.config import TRAIN_DEFAULTS, TrainConfig

    text = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    for option, key in (
        ("--epochs", "epochs"),
        ("--batch-size", "batch_size"),
        ("--lr", "lr"),
        ("--device", "device"),
        ("--seed", "seed"),
    ):
        shown = re.search(re.escape(option) + r" [^\[]*\[default: ([^\]]+)\]", text).group(1)
        if (
            getattr(TrainConfig, key) is None
        ):  # the model's own: MetaMMF's, or MMRec's for the baselines
            assert (
                f"{METAMMF['design'][key]} for metammf, {TRAIN_DEFAULTS[key]} (MMRec's)" in shown
            ), option
        else:
            assert shown == str(getattr(TrainConfig, key)), option


def test_the_docs_option_table_is_the_generated_one():
    from pathlib import Path

    from mmgraph.train.config import option_table

    docs = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    start = docs.index("<!-- options table: generated -->\n") + len(
        "<!-- options table: generated -->\n"
    )
    end = docs.index("<!-- end of options table -->")
    assert docs[start:end].strip() == option_table(), "run `python cli.py options --markdown`"


def test_every_flag_comes_from_a_declared_option():
    from mmgraph.train.config import DataConfig, TrainConfig, specs

    flags = {
        s.flag for cls in (DataConfig, TrainConfig) for s, _, _ in specs(cls).values() if s.flag
    }
    for command in ("train", "compare", "sweep"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert all(f in flags or f not in text for f in flags)
    shown = CliRunner().invoke(main, ["train", "--help"]).output
    assert (
        "--lr FLOAT" in shown
        and "--sampler [full|neighbor]" in shown
        and "--fanout K,K,..." in shown
    )
