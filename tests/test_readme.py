"""The README's Python blocks run as written, in order, in one namespace."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) >= 3  # the tour (two blocks) and the layers example
    monkeypatch.chdir(tmp_path)  # the tour writes runs/ where it is run
    namespace: dict = {}
    for n, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {n + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "['visual', 'textual'] True" in out and "'rank': 1" in out
    assert len(list((tmp_path / "runs").iterdir())) == 1
